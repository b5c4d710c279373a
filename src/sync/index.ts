/**
 * The sync engine's public surface. Everything else in src/sync is internal to it.
 *
 * - createSyncEngine({ db, resolveTargets }) → startRun / confirmRun / cancelRun / recoverStaleRuns
 * - getSettings / saveSettings: a connection's rules (zod, versioned, audited)
 * - listRuns / getRun / listRunOps / exportRunOpsCsv, listAudit: history for the admin UI
 * - desiredState and plan: the pure core, for previews and benchmarks
 */
export { createSyncEngine, RunInProgressError, RunStateError, SyncRunError } from './runs';
export type { ResolvedTarget, RunMode, RunResult, RunStatus, RunTrigger, StartRunRequest, SyncEngine, SyncEngineOptions, TargetResolver } from './runs';
export { defaultSettings, getSettings, parseSettings, saveSettings, upgradeSettings, SettingsConflictError, SettingsError } from './settings';
export type { StoredSettings, SyncSettings, SyncSettingsInput } from './settings';
export { exportRunOpsCsv, getRun, listRunOps, listRuns } from './history';
export { listAudit, recordAudit } from './audit';
export { desiredState } from './rules';
export { plan, STEPS } from './plan';
export type { ActualState, SyncOp, TargetPlan } from './plan';
