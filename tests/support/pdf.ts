import { getDocument } from 'pdfjs-dist/legacy/build/pdf.mjs';

/**
 * The text of each page of a PDF, as a reader's copy would see it: pdfjs returns one item per
 * drawn run of text, so items are joined with spaces and whitespace runs collapse to one space.
 * Words a renderer wrapped onto two lines therefore come back separated by a space.
 */
export async function pdfPageTexts(pdf: Uint8Array): Promise<string[]> {
  // pdfjs transfers (detaches) the buffer it is given, so it gets a copy.
  const task = getDocument({
    data: new Uint8Array(pdf),
    useSystemFonts: false,
    isEvalSupported: false,
    verbosity: 0,
  });
  const document = await task.promise;
  try {
    const pages: string[] = [];
    for (let n = 1; n <= document.numPages; n++) {
      const page = await document.getPage(n);
      const content = await page.getTextContent();
      const text = content.items.map((item) => ('str' in item ? item.str : '')).join(' ');
      pages.push(text.replace(/\s+/g, ' ').trim());
      page.cleanup();
    }
    return pages;
  } finally {
    await task.destroy();
  }
}

/** The text of a whole PDF, pages separated by a newline (see pdfPageTexts). */
export async function pdfText(pdf: Uint8Array): Promise<string> {
  return (await pdfPageTexts(pdf)).join('\n');
}
