import fs from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../../src/db/migrate';
import { headingSlug, renderMarkdown } from '../../src/web/help';

/** The help lines' links land on a heading of the doc they name, as rendered by /help. */
describe('help links', () => {
  it('every /help/<doc>#anchor in the views and page scripts is a heading of that doc', () => {
    const root = projectRoot();
    const sources = [
      ...fs.readdirSync(path.join(root, 'views')).map((f) => path.join(root, 'views', f)),
      ...fs.readdirSync(path.join(root, 'public', 'js', 'pages')).map((f) => path.join(root, 'public', 'js', 'pages', f)),
    ].filter((f) => fs.statSync(f).isFile());
    const links = sources.flatMap((file) => [...fs.readFileSync(file, 'utf8').matchAll(/\/help\/([a-z]+)#([a-z0-9-]+)/g)].map((m) => [m[1]!, m[2]!] as const));
    expect(links.length).toBeGreaterThan(10);
    for (const [doc, anchor] of links) {
      const html = renderMarkdown(fs.readFileSync(path.join(root, 'docs', `${doc}.md`), 'utf8'));
      expect([doc, anchor, html.includes(`id="${anchor}"`)]).toEqual([doc, anchor, true]);
    }
  });

  it('renders headings with GitHub anchors and escapes everything else', () => {
    expect(headingSlug('Inactive and removed users')).toBe('inactive-and-removed-users');
    expect(headingSlug('Rules, in detail')).toBe('rules-in-detail');
    const html = renderMarkdown('## A <b> heading\n\nText with `code` and <script>x</script>.\n\n- one\n- two');
    expect(html).toContain('<h2 id="a-b-heading">A &lt;b&gt; heading</h2>');
    expect(html).toContain('<code>code</code>');
    expect(html).not.toContain('<script>');
    expect(html).toContain('<ul><li>one</li><li>two</li></ul>');
  });
});
