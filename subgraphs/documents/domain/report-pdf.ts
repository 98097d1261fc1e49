import PDFDocument from 'pdfkit';
import {
  signedResultFormat,
  verificationSteps,
  type AttestationReportInput,
  type ReportClaim,
  type ReportFinding,
} from './report-content.ts';

/**
 * The attestation report as a PDF. Layout is done here rather than by pdfkit's flowing text:
 * pdfkit breaks lines after hyphens (claim names are hyphenated) and adds pages on its own, which
 * would split claim names across lines and leave table rows and footers where it chose. Every line
 * is measured, wrapped and placed explicitly, so the same input always gives the same bytes.
 */

type FontName = 'Helvetica' | 'Helvetica-Bold' | 'Courier';

interface Style {
  font: FontName;
  size: number;
  color: string;
}

interface StyledLine {
  text: string;
  style: Style;
}

const INK = '#1f2328';
const MUTED = '#57606a';
const PASS = '#1a7f37';
const FAIL = '#cf222e';
const RULE = '#8c959f';
const HEADER_FILL = '#eaeef2';

const BODY: Style = { font: 'Helvetica', size: 9.5, color: INK };
const LABEL: Style = { font: 'Helvetica-Bold', size: 9.5, color: INK };
const CELL: Style = { font: 'Helvetica', size: 8, color: INK };
const CELL_HEADER: Style = { font: 'Helvetica-Bold', size: 8, color: INK };
const CELL_NOTE: Style = { font: 'Helvetica', size: 7, color: MUTED };
const TOKEN: Style = { font: 'Courier', size: 7, color: INK };
const CODE: Style = { font: 'Courier', size: 8, color: INK };

// A4 in points.
const PAGE_WIDTH = 595.28;
const PAGE_HEIGHT = 841.89;
const MARGIN = 50;
const CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN;
/** Content stops here; below it is the footer's. */
const CONTENT_BOTTOM = PAGE_HEIGHT - 60;
const FOOTER_Y = PAGE_HEIGHT - 40;
const CELL_PAD_X = 4;
const CELL_PAD_Y = 3;
/** Courier's glyphs are all 600/1000 em wide, so a token line can be cut by character count. */
const COURIER_ADVANCE = 0.6;

// Typography that has an obvious ASCII spelling; anything else outside Latin-1 becomes "?".
const ASCII_EQUIVALENTS: Readonly<Record<string, string>> = {
  '\u2026': '...',
  '\u2192': '->',
  '\u2190': '<-',
  '\u2194': '<->',
  '\u21d2': '=>',
  '\u2010': '-',
  '\u2011': '-',
  '\u2012': '-',
  '\u2013': '-',
  '\u2014': '-',
  '\u2015': '-',
  '\u2212': '-',
  '\u2018': "'",
  '\u2019': "'",
  '\u201a': ',',
  '\u201c': '"',
  '\u201d': '"',
  '\u201e': '"',
  '\u2022': '*',
  '\u2264': '<=',
  '\u2265': '>=',
  '\u2260': '!=',
  '\u2248': '~',
  '\u20ac': 'EUR',
  '\u2122': '(TM)',
  '\u2713': 'v',
  '\u2717': 'x',
};

/**
 * Makes text safe to draw with the PDF standard fonts. They are WinAnsi-encoded, and pdfkit
 * writes a character outside that encoding as a multi-byte code the viewer shows as garbage, so
 * common typography is spelled in ASCII, compatibility forms are folded (ligatures, full-width
 * letters), control characters and anything else outside Latin-1 become "?".
 */
export function pdfSafe(text: string): string {
  let out = '';
  for (const char of text.normalize('NFC')) {
    const code = char.codePointAt(0) ?? 0;
    if (code === 0x0a) out += '\n';
    else if (code === 0x0d) continue;
    else if (code === 0x09) out += ' ';
    else if (code < 0x20 || (code >= 0x7f && code < 0xa0)) out += '?';
    else if (code <= 0xff) out += char;
    else if (ASCII_EQUIVALENTS[char] !== undefined) out += ASCII_EQUIVALENTS[char];
    else if (/^\s$/u.test(char)) out += ' ';
    else {
      const folded = char.normalize('NFKD').replace(/\p{M}/gu, '');
      const latin1 = [...folded].every((c) => {
        const point = c.codePointAt(0) ?? 0;
        return point >= 0x20 && point <= 0xff && !(point >= 0x7f && point < 0xa0);
      });
      out += folded.length > 0 && latin1 ? folded : '?';
    }
  }
  return out;
}

function lineHeight(style: Style): number {
  return style.size * 1.25;
}

/** "2026-11-30T14:03:12.000Z" reads as "2026-11-30 14:03:12 UTC"; anything else is shown as given. */
function when(iso: string | null): string {
  if (iso === null) return '-';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** Places lines on pages; `y` is where the next line goes on the current page. */
class Layout {
  y = MARGIN;

  constructor(readonly doc: PDFKit.PDFDocument) {}

  newPage(): void {
    this.doc.addPage();
    this.y = MARGIN;
  }

  /** Moves to a new page unless `height` more points fit on this one. */
  ensure(height: number): void {
    if (this.y + height > CONTENT_BOTTOM) this.newPage();
  }

  use(style: Style): void {
    this.doc.font(style.font).fontSize(style.size).fillColor(style.color);
  }

  /**
   * Wraps on spaces only, so a hyphenated name stays on one line when it fits; a word wider than
   * `width` (a nonce, a digest, a URL) is cut between characters instead of overflowing.
   */
  wrap(text: string, style: Style, width: number): string[] {
    this.use(style);
    const fits = (s: string) => this.doc.widthOfString(s) <= width;
    const lines: string[] = [];
    for (const paragraph of pdfSafe(text).split('\n')) {
      let line = '';
      for (const word of paragraph.split(' ').filter((w) => w.length > 0)) {
        const candidate = line ? `${line} ${word}` : word;
        if (fits(candidate)) {
          line = candidate;
          continue;
        }
        if (line) lines.push(line);
        let rest = word;
        while (!fits(rest)) {
          let cut = 1;
          while (cut < rest.length - 1 && fits(rest.slice(0, cut + 1))) cut++;
          lines.push(rest.slice(0, cut));
          rest = rest.slice(cut);
        }
        line = rest;
      }
      lines.push(line);
    }
    return lines;
  }

  /** Draws one already-wrapped line; lineBreak: false keeps pdfkit from wrapping or paging. */
  draw(text: string, style: Style, x: number, y: number): void {
    if (text.length === 0) return;
    this.use(style);
    this.doc.text(text, x, y, { lineBreak: false });
  }

  paragraph(text: string, style: Style = BODY, x = MARGIN, width = CONTENT_WIDTH): void {
    const height = lineHeight(style);
    for (const line of this.wrap(text, style, width)) {
      this.ensure(height);
      this.draw(line, style, x, this.y);
      this.y += height;
    }
  }

  /** A section heading, kept on the page of the first lines that follow it. */
  heading(text: string): void {
    const style: Style = { font: 'Helvetica-Bold', size: 12.5, color: INK };
    this.y += 10;
    this.ensure(lineHeight(style) + 4 + 3 * lineHeight(BODY));
    this.draw(text, style, MARGIN, this.y);
    this.y += lineHeight(style) + 4;
  }

  rule(): void {
    this.doc
      .moveTo(MARGIN, this.y)
      .lineTo(MARGIN + CONTENT_WIDTH, this.y)
      .lineWidth(0.5)
      .strokeColor(RULE)
      .stroke();
  }
}

interface Column {
  title: string;
  width: number;
}

/** A cell is one or more parts, each wrapped on its own lines in its own style. */
type Cell = { text: string; style: Style }[];

function plain(text: string | null | undefined): Cell {
  return [{ text: text ?? '', style: CELL }];
}

/**
 * Draws a ruled table. A row that does not fit moves whole to the next page, and the header row
 * is repeated on every page the table reaches; only a row taller than a page is split.
 */
function table(layout: Layout, columns: Column[], rows: Cell[][]): void {
  const lh = lineHeight(CELL);
  const wrapCell = (cell: Cell, width: number): StyledLine[] =>
    cell.flatMap((part) =>
      layout.wrap(part.text, part.style, width - 2 * CELL_PAD_X).map((text) => ({
        text,
        style: part.style,
      })),
    );
  const headerCells = columns.map((c) =>
    wrapCell([{ text: c.title, style: CELL_HEADER }], c.width),
  );
  const headerHeight = Math.max(...headerCells.map((l) => l.length)) * lh + 2 * CELL_PAD_Y;

  const segment = (cells: StyledLine[][], from: number, count: number, fill: boolean) => {
    const height = count * lh + 2 * CELL_PAD_Y;
    let x = MARGIN;
    columns.forEach((column, i) => {
      const box = layout.doc.rect(x, layout.y, column.width, height).lineWidth(0.5);
      if (fill) box.fillAndStroke(HEADER_FILL, RULE);
      else box.strokeColor(RULE).stroke();
      (cells[i] ?? []).slice(from, from + count).forEach((line, n) => {
        layout.draw(line.text, line.style, x + CELL_PAD_X, layout.y + CELL_PAD_Y + n * lh);
      });
      x += column.width;
    });
    layout.y += height;
  };
  const header = () => segment(headerCells, 0, Math.max(...headerCells.map((l) => l.length)), true);

  layout.ensure(headerHeight + lh + 2 * CELL_PAD_Y);
  header();
  const pageRoom = CONTENT_BOTTOM - MARGIN - headerHeight;
  for (const row of rows) {
    const cells = columns.map((column, i) => wrapCell(row[i] ?? plain(''), column.width));
    const total = Math.max(...cells.map((l) => l.length));
    const height = total * lh + 2 * CELL_PAD_Y;
    if (layout.y + height > CONTENT_BOTTOM && height <= pageRoom) {
      layout.newPage();
      header();
    }
    let done = 0;
    while (done < total) {
      const fit = Math.floor((CONTENT_BOTTOM - layout.y - 2 * CELL_PAD_Y) / lh);
      if (fit < 1) {
        layout.newPage();
        header();
        continue;
      }
      const count = Math.min(fit, total - done);
      segment(cells, done, count, false);
      done += count;
    }
  }
}

function claimRow(claim: ReportClaim): Cell[] {
  const result: Cell = [
    {
      text: claim.passed ? 'PASS' : 'FAIL',
      style: { font: 'Helvetica-Bold', size: CELL.size, color: claim.passed ? PASS : FAIL },
    },
  ];
  if (claim.status) result.push({ text: claim.status, style: CELL_NOTE });
  return [
    plain(claim.name),
    result,
    plain(claim.expected),
    plain(claim.actual),
    plain(claim.reason),
  ];
}

function findingRow(finding: ReportFinding): Cell[] {
  return [
    plain(finding.severity),
    plain(finding.code),
    plain(finding.message),
    plain(finding.path),
  ];
}

function summary(layout: Layout, input: AttestationReportInput): void {
  const verdict = input.verdict ? `verdict ${input.verdict}` : 'no verdict';
  const rows: [string, string][] = [
    ['Attestation', input.attestationId],
    ['Organization', input.organizationId],
    ['Subject', input.subject],
    ['Status', `${input.status} \u2014 ${verdict}`],
    ['Policy', input.policy ?? 'none recorded'],
    ['Submitted', when(input.submittedAt)],
    ['Completed', when(input.completedAt)],
  ];
  if (input.error) rows.push(['Error', input.error]);
  rows.push(['Generated', when(input.generatedAt.toISOString())]);

  const labelWidth = 95;
  const valueX = MARGIN + labelWidth;
  const valueWidth = CONTENT_WIDTH - labelWidth;
  const lh = lineHeight(BODY);
  for (const [label, value] of rows) {
    const lines = layout.wrap(value, BODY, valueWidth);
    layout.ensure(Math.min(lines.length, 3) * lh);
    layout.draw(label, LABEL, MARGIN, layout.y);
    for (const line of lines) {
      layout.ensure(lh);
      layout.draw(line, BODY, valueX, layout.y);
      layout.y += lh;
    }
    layout.y += 2;
  }
}

function claims(layout: Layout, input: AttestationReportInput): void {
  layout.heading('Claims');
  if (input.claims.length === 0) {
    layout.paragraph('No claims were recorded.');
    return;
  }
  const failed = input.claims.filter((c) => !c.passed).length;
  layout.paragraph(`${input.claims.length - failed} passed, ${failed} failed.`);
  layout.y += 4;
  const fixed = [
    { title: 'Claim', width: 118 },
    { title: 'Result', width: 62 },
    { title: 'Expected', width: 100 },
    { title: 'Actual', width: 100 },
  ];
  const reasonWidth = CONTENT_WIDTH - fixed.reduce((sum, c) => sum + c.width, 0);
  table(layout, [...fixed, { title: 'Reason', width: reasonWidth }], input.claims.map(claimRow));
}

function findings(layout: Layout, input: AttestationReportInput): void {
  layout.heading('Findings');
  if (input.findings.length === 0) {
    layout.paragraph('No findings.');
    return;
  }
  const fixed = [
    { title: 'Severity', width: 62 },
    { title: 'Code', width: 100 },
    { title: 'Message', width: 218 },
  ];
  const pathWidth = CONTENT_WIDTH - fixed.reduce((sum, c) => sum + c.width, 0);
  table(layout, [...fixed, { title: 'Path', width: pathWidth }], input.findings.map(findingRow));
}

function signedResult(layout: Layout, input: AttestationReportInput): void {
  layout.heading('Signed result');
  if (input.token === null) {
    const reason = input.error ?? `the attestation ended ${input.status} without one`;
    layout.paragraph(`No signed result: ${reason}`);
    return;
  }
  layout.paragraph(`Format: ${signedResultFormat(input.attestationType)}`);
  layout.y += 4;

  // A JWT has no spaces to wrap at, so it is cut into fixed-width lines; readers strip the
  // line breaks before use. It is kept on one page when it fits one, so a copy-paste gets it whole.
  const perLine = Math.floor(CONTENT_WIDTH / (TOKEN.size * COURIER_ADVANCE));
  const lines = pdfSafe(input.token)
    .split('\n')
    .flatMap((part) => {
      const chunks: string[] = [];
      for (let i = 0; i < part.length; i += perLine) chunks.push(part.slice(i, i + perLine));
      return chunks.length > 0 ? chunks : [''];
    });
  const lh = lineHeight(TOKEN);
  const height = lines.length * lh;
  if (layout.y + height > CONTENT_BOTTOM && height <= CONTENT_BOTTOM - MARGIN) layout.newPage();
  for (const line of lines) {
    layout.ensure(lh);
    layout.draw(line, TOKEN, MARGIN, layout.y);
    layout.y += lh;
  }

  layout.heading('How to verify');
  const indent = 14;
  verificationSteps(input).forEach((step, i) => {
    const lines = layout.wrap(step, BODY, CONTENT_WIDTH - indent);
    const lh = lineHeight(BODY);
    layout.ensure(Math.min(lines.length, 2) * lh);
    layout.draw(`${i + 1}.`, BODY, MARGIN, layout.y);
    for (const line of lines) {
      layout.ensure(lh);
      layout.draw(line, BODY, MARGIN + indent, layout.y);
      layout.y += lh;
    }
    layout.y += 3;
  });
  if (input.attestationType === 'HARDWARE') {
    layout.y += 4;
    layout.paragraph('With jose (JavaScript):');
    layout.paragraph(
      `jwtVerify(token, createRemoteJWKSet(new URL("${input.jwksUrl}")))`,
      CODE,
      MARGIN + indent,
      CONTENT_WIDTH - indent,
    );
  }
}

/** Writes "Attestation <id> · page N of M" on every page, once the page count is known. */
function footers(layout: Layout, attestationId: string): void {
  const { start, count } = layout.doc.bufferedPageRange();
  const style: Style = { font: 'Helvetica', size: 7.5, color: MUTED };
  for (let page = start; page < start + count; page++) {
    layout.doc.switchToPage(page);
    const text = pdfSafe(
      `Attestation ${attestationId} \u00b7 page ${page - start + 1} of ${count}`,
    );
    layout.use(style);
    // Centred by hand: giving pdfkit a width would route the text through its line wrapper,
    // which starts a new page for text below the bottom margin.
    const x = (PAGE_WIDTH - layout.doc.widthOfString(text)) / 2;
    layout.draw(text, style, x, FOOTER_Y);
  }
}

/**
 * Renders the human-readable attestation report: summary, claims, findings, the signed result
 * and how to verify it, with a page footer. Deterministic: the same input gives the same bytes
 * (the creation date is `generatedAt`, and pdfkit derives the file /ID from the document info).
 */
export async function renderReportPdf(input: AttestationReportInput): Promise<Buffer> {
  const kind = input.attestationType === 'HARDWARE' ? 'Hardware attestation' : 'Model attestation';
  const doc = new PDFDocument({
    size: 'A4',
    margins: { top: MARGIN, bottom: MARGIN, left: MARGIN, right: MARGIN },
    bufferPages: true,
    compress: true,
    info: {
      Title: `LotaBots attestation report ${input.attestationId}`,
      Author: 'LotaBots',
      Subject: `${kind}: ${input.subject}`,
      CreationDate: input.generatedAt,
    },
  });
  const done = new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    doc.on('data', (chunk: Buffer) => chunks.push(chunk));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });

  const layout = new Layout(doc);
  layout.draw(
    'LotaBots attestation report',
    { font: 'Helvetica-Bold', size: 18, color: INK },
    MARGIN,
    layout.y,
  );
  layout.y += 24;
  layout.draw(kind, { font: 'Helvetica', size: 12, color: MUTED }, MARGIN, layout.y);
  layout.y += 20;
  layout.rule();
  layout.y += 10;
  summary(layout, input);
  claims(layout, input);
  findings(layout, input);
  signedResult(layout, input);
  footers(layout, input.attestationId);
  doc.end();
  return done;
}
