/** Jest runs the TypeScript sources through swc; `tsc` type-checks them separately (see package.json). */
const esmOnly = ['node-pg-migrate', 'serialize-error', 'cron-parser', 'luxon', 'glob', 'jiti', 'yargs'];

module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test', '<rootDir>/src'],
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  transform: {
    '^.+\\.(t|j|mj)s$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } }],
  },
  transformIgnorePatterns: [`/node_modules/(?!(${esmOnly.join('|')})/)`],
  moduleFileExtensions: ['ts', 'js', 'mjs', 'json'],
  testTimeout: 30000,
  // Child processes, browsers and servers are closed in each suite's afterAll; this is the backstop that
  // keeps a leaked handle from hanging CI after the results are in.
  forceExit: true,
};
