/**
 * MIG listings to go with the vendored A100-SXM4-80GB `-q -x` capture (telegraf/a100-sxm4-v12.xml:
 * four MIG devices, GI 3–6, CI 0, 14 SMs and 19968 MiB each, i.e. 1g.20gb). That capture came
 * without its listings, so these are written for the tests in nvidia-smi's layout, with the
 * A100-80GB profile values from shared/fixtures FACTS.md (1g.20gb: ID 15, 4 max, 19.50 GiB).
 */
import { fixtureText } from './helpers.ts';

export const A100_UUID = 'GPU-513536b6-7d19-9063-b049-1e69664bb298';

export const a100Xml = fixtureText('telegraf/a100-sxm4-v12.xml');

/** The capture without its last MIG device (GI 6): the state before `-cgi 15 -C` made it. */
export const a100XmlWithoutGi6 = a100Xml.replace(
  /<mig_device>\s*<index>3<\/index>[\s\S]*?<\/mig_device>/,
  '',
);

const rule = `+${'-'.repeat(77)}+`;

function lgip(free1g20: number): string {
  return [
    rule,
    '| GPU instance profiles:                                                      |',
    '| GPU   Name             ID    Instances   Memory     P2P    SM    DEC   ENC  |',
    '|                              Free/Total   GiB              CE    JPEG  OFA  |',
    `|${'='.repeat(77)}|`,
    '|   0  MIG 1g.10gb       19     0/7        9.50       No     14     0     0   |',
    '|                                                             1     0     0   |',
    rule,
    `|   0  MIG 1g.20gb       15     ${free1g20}/4        19.50      No     14     1     0   |`,
    '|                                                             1     0     0   |',
    rule,
    '|   0  MIG 7g.80gb        0     0/1        79.00      No     98     5     0   |',
    '|                                                             7     1     1   |',
    rule,
    '',
  ].join('\n');
}

function lgi(gis: number[]): string {
  const line = `+${'-'.repeat(55)}+`;
  return [
    line,
    '| GPU instances:                                        |',
    '| GPU   Name             Profile  Instance   Placement  |',
    '|                          ID       ID       Start:Size |',
    `|${'='.repeat(55)}|`,
    ...gis.flatMap((gi) => [
      `|   0  MIG 1g.20gb         15        ${gi}          ${(gi - 3) * 2}:2     |`,
      line,
    ]),
    '',
  ].join('\n');
}

function lci(gis: number[]): string {
  const line = `+${'-'.repeat(68)}+`;
  return [
    line,
    '| Compute instances:                                                 |',
    '| GPU     GPU       Name             Profile   Instance   Placement  |',
    '|       Instance                       ID        ID       Start:Size |',
    '|         ID                                                         |',
    `|${'='.repeat(68)}|`,
    ...gis.flatMap((gi) => [
      `|   0      ${gi}       MIG 1g.20gb          0         0          0:2     |`,
      line,
    ]),
    '',
  ].join('\n');
}

/** MIG UUID of device `n` in these listings. */
export const migUuid = (n: number) => `MIG-0000000${n}-aaaa-5bbb-8ccc-00000000000${n}`;

function list(devices: number): string {
  return [
    `GPU 0: NVIDIA A100-SXM4-80GB (UUID: ${A100_UUID})`,
    ...Array.from(
      { length: devices },
      (_, n) => `  MIG 1g.20gb     Device  ${n}: (UUID: ${migUuid(n)})`,
    ),
    '',
  ].join('\n');
}

/** Fake nvidia-smi responses for the A100 with the given GPU instances (from GI 3 up). */
export function a100Responses(gis: number[]) {
  return {
    '-q -x': { stdout: gis.length === 4 ? a100Xml : a100XmlWithoutGi6 },
    'mig -lgip': { stdout: lgip(4 - gis.length) },
    'mig -lgi': { stdout: lgi(gis) },
    'mig -lci': { stdout: lci(gis) },
    '-L': { stdout: list(gis.length) },
    'conf-compute -f': { stdout: 'CC status: OFF\n' },
  };
}
