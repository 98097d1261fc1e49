import { SmiParseError } from '../errors.ts';
import { text } from './smi-values.ts';

/**
 * Parses `nvidia-smi --query-…=<fields> --format=csv,noheader[,nounits]` into one record per line,
 * keyed by the requested field names. Absent tokens (`[N/A]`, `[Not Supported]`, …) become null.
 * nvidia-smi quotes nothing, so a value holding ", " would shift the columns: a line with the wrong
 * number of cells throws SmiParseError rather than mislabel values. The field listed in
 * `spillField` (e.g. `process_name`) may absorb extra cells.
 */
export function parseQueryCsv<F extends string>(
  output: string,
  fields: readonly F[],
  spillField?: F,
): Record<F, string | null>[] {
  return output
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line, row) => {
      let values = line.split(',');
      const extra = values.length - fields.length;
      const spill = spillField === undefined ? -1 : fields.indexOf(spillField);
      if (extra > 0 && spill !== -1) {
        values = [
          ...values.slice(0, spill),
          values.slice(spill, spill + extra + 1).join(','),
          ...values.slice(spill + extra + 1),
        ];
      }
      if (values.length !== fields.length) {
        throw new SmiParseError(
          `query[${row}]`,
          `expected ${fields.length} values, got ${values.length}`,
        );
      }
      return Object.fromEntries(fields.map((field, i) => [field, text(values[i])])) as Record<
        F,
        string | null
      >;
    });
}
