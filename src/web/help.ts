import fs from 'node:fs';
import path from 'node:path';
import type { Express } from 'express';
import { projectRoot } from '../db/migrate';

/**
 * The module docs the admin pages link to from their help lines ("/help/sync#confirmation-threshold"), as plain
 * HTML. Only the listed docs, read from the repository's docs/; no tenant data, so no page JWT is needed.
 * Headings get GitHub's anchor ids, so the same links work on the repository's rendered docs.
 */
const HELP_DOCS = new Set(['sync', 'web', 'scim', 'sources', 'targets', 'jobs']);

export function mountHelp(app: Express): void {
  app.get('/help/:doc', (req, res) => {
    const doc = req.params.doc;
    const file = path.join(projectRoot(), 'docs', `${doc}.md`);
    if (!HELP_DOCS.has(doc) || !fs.existsSync(file)) return res.status(404).type('text/plain').send('No such help page');
    res.set('cache-control', 'public, max-age=300');
    res.type('html').send(
      `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(doc)} · User &amp; Group Sync help</title>` +
        '<link rel="stylesheet" href="/aui/aui-prototyping.css"><style>body{max-width:860px;margin:24px auto;padding:0 16px}pre{white-space:pre-wrap}:target{background:#fffae6}</style></head>' +
        `<body>${renderMarkdown(fs.readFileSync(file, 'utf8'))}</body></html>`,
    );
  });
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
export function headingSlug(text: string): string {
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function inline(text: string): string {
  return escapeHtml(text)
    .replace(/`([^`]+)`/g, '<code>$1</code>')
    .replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>')
    .replace(/\[([^\]]+)\]\((https?:\/\/[^)\s]+|#[\w-]+)\)/g, '<a href="$2">$1</a>');
}

/** The subset of Markdown the docs use: headings, paragraphs, lists, fenced code, tables (kept as text). */
export function renderMarkdown(markdown: string): string {
  const out: string[] = [];
  const lines = markdown.split('\n');
  let paragraph: string[] = [];
  let list: string[] = [];
  const flush = () => {
    if (paragraph.length) out.push(`<p>${inline(paragraph.join(' '))}</p>`);
    if (list.length) out.push(`<ul>${list.map((item) => `<li>${inline(item)}</li>`).join('')}</ul>`);
    paragraph = [];
    list = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('```')) {
      flush();
      const code: string[] = [];
      while (++i < lines.length && !lines[i]!.startsWith('```')) code.push(lines[i]!);
      out.push(`<pre><code>${escapeHtml(code.join('\n'))}</code></pre>`);
      continue;
    }
    const heading = /^(#{1,4})\s+(.*)$/.exec(line);
    if (heading) {
      flush();
      const level = heading[1]!.length;
      out.push(`<h${level} id="${headingSlug(heading[2]!)}">${inline(heading[2]!)}</h${level}>`);
      continue;
    }
    if (line.startsWith('|')) {
      flush();
      const table: string[] = [line];
      while (i + 1 < lines.length && lines[i + 1]!.startsWith('|')) table.push(lines[++i]!);
      out.push(`<pre>${escapeHtml(table.join('\n'))}</pre>`);
      continue;
    }
    const item = /^\s*(?:[-*]|\d+\.)\s+(.*)$/.exec(line);
    if (item) {
      if (paragraph.length) flush();
      list.push(item[1]!);
      continue;
    }
    if (line.trim() === '') {
      flush();
      continue;
    }
    if (list.length && /^\s+/.test(line)) list[list.length - 1] += ` ${line.trim()}`;
    else paragraph.push(line.trim());
  }
  flush();
  return out.join('\n');
}
