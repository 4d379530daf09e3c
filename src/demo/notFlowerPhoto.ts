// A photo that is not a flower, made in code for the demo (no photo files in the
// repo): a screenshot of a spreadsheet, the kind of image members post by mistake.
import sharp from 'sharp';

const ROWS = [
  ['Date', 'Item', 'Qty', 'Price'],
  ['03/12', 'Printer paper', '4', '18.40'],
  ['03/12', 'Stapler', '1', '7.99'],
  ['04/12', 'Ink cartridge', '2', '41.00'],
  ['05/12', 'Envelopes C5', '100', '9.50'],
  ['05/12', 'USB cable', '3', '12.75'],
  ['06/12', 'Desk lamp', '1', '24.90'],
  ['07/12', 'Notebook A4', '6', '15.60'],
  ['08/12', 'Batteries AA', '12', '8.25'],
  ['', 'Total', '', '138.39'],
];

/** A 640×480 JPEG screenshot of a spreadsheet window. */
export async function spreadsheetScreenshot(): Promise<Buffer> {
  const cols = [40, 150, 390, 480, 600];
  const cells = ROWS.map((row, r) => {
    const y = 96 + r * 34;
    const bg = r === 0 ? '#dfe3e8' : r % 2 ? '#ffffff' : '#f4f6f8';
    const text = row
      .map(
        (t, c) =>
          `<text x="${cols[c]! + 8}" y="${y + 22}" font-family="DejaVu Sans, sans-serif" font-size="15" fill="#222" ${r === 0 || r === ROWS.length - 1 ? 'font-weight="bold"' : ''}>${t}</text>`,
      )
      .join('');
    return `<rect x="40" y="${y}" width="560" height="34" fill="${bg}" stroke="#c8cdd3"/>${text}`;
  }).join('');
  const grid = cols
    .slice(1, -1)
    .map((x) => `<line x1="${x}" y1="96" x2="${x}" y2="${96 + ROWS.length * 34}" stroke="#c8cdd3"/>`)
    .join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="640" height="480">
  <rect width="640" height="480" fill="#eceff2"/>
  <rect width="640" height="36" fill="#2f3b48"/>
  <circle cx="20" cy="18" r="6" fill="#8a939c"/><circle cx="40" cy="18" r="6" fill="#8a939c"/><circle cx="60" cy="18" r="6" fill="#8a939c"/>
  <text x="90" y="24" font-family="DejaVu Sans, sans-serif" font-size="15" fill="#e8ecef">expenses-december.xlsx</text>
  <rect x="0" y="36" width="640" height="40" fill="#fafbfc" stroke="#d5d9de"/>
  <text x="16" y="62" font-family="DejaVu Sans, sans-serif" font-size="14" fill="#444">File   Edit   View   Insert   Format   Data</text>
  ${cells}${grid}
  </svg>`;
  return sharp(Buffer.from(svg)).jpeg({ quality: 88 }).toBuffer();
}
