// .gitattributes editing with exact expected text, checked against git's own check-attr.

import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors.js';
import { addTrackPattern, listTrackedPatterns, removeTrackPattern } from './attributes.js';
import { git, makeTempRepo } from './test-support/temp-repo.js';

const WEFT = 'filter=weft diff=weft merge=weft -text';

describe('addTrackPattern', () => {
  it('appends a line to empty text, text with a final newline, and text without one', () => {
    expect(addTrackPattern('', '*.safetensors')).toEqual({
      text: `*.safetensors ${WEFT}\n`,
      changed: true,
      replaced: [],
    });
    expect(addTrackPattern('*.txt text\n', '*.bin').text).toBe(`*.txt text\n*.bin ${WEFT}\n`);
    expect(addTrackPattern('# models\n*.txt text', '*.bin').text).toBe(`# models\n*.txt text\n*.bin ${WEFT}\n`);
  });

  it('keeps other attributes on the pattern’s line', () => {
    expect(addTrackPattern('*.bin eol=lf\n*.md text\n', '*.bin')).toEqual({
      text: `*.bin eol=lf ${WEFT}\n*.md text\n`,
      changed: true,
      replaced: [],
    });
  });

  it('takes a pattern over from Git LFS and says what it replaced', () => {
    expect(addTrackPattern('*.bin filter=lfs diff=lfs merge=lfs -text\n', '*.bin')).toEqual({
      text: `*.bin ${WEFT}\n`,
      changed: true,
      replaced: ['filter=lfs', 'diff=lfs', 'merge=lfs'],
    });
    expect(addTrackPattern('*.bin text=auto lockable -diff\n', '*.bin')).toEqual({
      text: `*.bin lockable ${WEFT}\n`,
      changed: true,
      replaced: ['text=auto', '-diff'],
    });
  });

  it('is idempotent, whatever the order of the attributes already there', () => {
    const once = addTrackPattern('*.bin eol=lf\n', '*.bin').text;
    expect(addTrackPattern(once, '*.bin')).toEqual({ text: once, changed: false, replaced: [] });
    const reordered = '  *.bin -text merge=weft eol=lf filter=weft   diff=weft\n';
    expect(addTrackPattern(reordered, '*.bin')).toEqual({ text: reordered, changed: false, replaced: [] });
  });

  it('updates the last line for the exact pattern only, and keeps indentation, CRLF and other lines', () => {
    const text = '*.bin eol=lf\r\n# *.bin filter=x\r\nmodels/*.bin -diff\r\n\t*.bin  foo\r\n*.BIN bar\r\n';
    expect(addTrackPattern(text, '*.bin').text).toBe(
      `*.bin eol=lf\r\n# *.bin filter=x\r\nmodels/*.bin -diff\r\n\t*.bin foo ${WEFT}\r\n*.BIN bar\r\n`,
    );
    expect(addTrackPattern('a eol=lf\r\n', 'b').text).toBe(`a eol=lf\r\nb ${WEFT}\r\n`);
  });

  it('quotes patterns that hold blanks or start with " or #', () => {
    expect(addTrackPattern('', 'my model.bin').text).toBe(`"my model.bin" ${WEFT}\n`);
    expect(addTrackPattern('', 'tab\there\\*').text).toBe(`"tab\\there\\\\*" ${WEFT}\n`);
    expect(addTrackPattern('', '#1.bin').text).toBe(`"#1.bin" ${WEFT}\n`);
    expect(addTrackPattern('', '"q".bin').text).toBe(`"\\"q\\".bin" ${WEFT}\n`);
    expect(addTrackPattern('', 'modèle.bin').text).toBe(`modèle.bin ${WEFT}\n`);
    // An existing quoted line is recognised by its unquoted pattern.
    expect(addTrackPattern('"my model.bin" eol=lf\n', 'my model.bin').text).toBe(`"my model.bin" eol=lf ${WEFT}\n`);
    expect(addTrackPattern('"mod\\303\\250le.bin" -diff\n', 'modèle.bin').text).toBe(`"mod\\303\\250le.bin" ${WEFT}\n`);
  });

  it.each([[''], ['  '], ['!*.bin'], ['[attr]weft']])('rejects the pattern %j with UsageError', (pattern) => {
    expect(() => addTrackPattern('', pattern)).toThrow(UsageError);
  });

  it('writes lines that real git applies to the intended paths', async () => {
    const repo = await makeTempRepo();
    let text = '*.bin filter=lfs diff=lfs merge=lfs -text\n';
    for (const pattern of ['*.bin', 'my model.pt', '#hash.pt', 'tab\tname.pt'])
      text = addTrackPattern(text, pattern).text;
    await writeFile(path.join(repo, '.gitattributes'), text);
    for (const file of ['x.bin', 'my model.pt', '#hash.pt', 'tab\tname.pt']) {
      // check-attr C-quotes the tab in its output.
      const shown = file.replace('\t', '\\t').replace(/^(.*\\t.*)$/, '"$1"');
      const expected = ['filter: weft', 'diff: weft', 'merge: weft', 'text: unset'].map((a) => `${shown}: ${a}\n`);
      expect(git(repo, ['check-attr', 'filter', 'diff', 'merge', 'text', '--', file])).toBe(expected.join(''));
    }
    expect(git(repo, ['check-attr', 'filter', '--', 'my', 'model.pt'])).toBe(
      'my: filter: unspecified\nmodel.pt: filter: unspecified\n',
    );
  });
});

describe('removeTrackPattern', () => {
  it('removes Weft’s attributes, keeping the rest, and deletes lines left empty', () => {
    const text = `# models\n*.bin eol=lf ${WEFT}\n"my model.pt" ${WEFT}\n*.txt text\n`;
    const once = removeTrackPattern(text, '*.bin');
    expect(once).toEqual({ text: `# models\n*.bin eol=lf\n"my model.pt" ${WEFT}\n*.txt text\n`, changed: true });
    expect(removeTrackPattern(once.text, 'my model.pt')).toEqual({
      text: '# models\n*.bin eol=lf\n*.txt text\n',
      changed: true,
    });
  });

  it('keeps a -text that Weft did not set, and changes nothing for unknown patterns', () => {
    const text = '*.bin -text\n*.pt diff=weft\n';
    expect(removeTrackPattern(text, '*.bin')).toEqual({ text, changed: false });
    expect(removeTrackPattern(text, '*.pt')).toEqual({ text: '*.bin -text\n', changed: true });
    expect(removeTrackPattern(text, '*.nothing')).toEqual({ text, changed: false });
  });

  it('undoes addTrackPattern', () => {
    for (const base of ['', '*.txt text\n', '*.bin eol=lf\n']) {
      const added = addTrackPattern(base, '*.bin').text;
      expect(removeTrackPattern(added, '*.bin').text).toBe(base);
    }
  });
});

describe('listTrackedPatterns', () => {
  it('lists patterns whose last filter is weft, unquoted, in order', () => {
    const text = [
      `*.safetensors ${WEFT}`,
      '# *.ignored filter=weft',
      `"my model.pt" ${WEFT}`,
      '[attr]weftish filter=weft',
      `*.bin ${WEFT}`,
      '*.bin filter=lfs',
      '*.safetensors eol=lf',
      '*.gguf filter=weft',
      '',
    ].join('\n');
    expect(listTrackedPatterns(text)).toEqual(['*.safetensors', 'my model.pt', '*.gguf']);
    expect(listTrackedPatterns('')).toEqual([]);
  });
});
