/**
 * `run` → first stdout byte through the tree, and → exit seen through `wait`, against a
 * raw `runc exec` of the same program in the same container, in the same run.
 *   node dist/scripts/bench/run-first-byte.js [ROUNDS]
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { benchMain, command, fmt, goal, median, mountTree, ms, numArg, report } from './common.js';

async function firstByte(file: string): Promise<void> {
  const fh = await fs.open(file, 'r');
  try {
    await fh.read(Buffer.alloc(1), 0, 1, 0);
  } finally {
    await fh.close();
  }
}

function rawExec(state: string, name: string, argv: string[]): Promise<bigint> {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn('runc', ['--root', path.join(state, 'runtime'), 'exec', name, ...argv], { stdio: ['ignore', 'pipe', 'ignore'] });
    let first: bigint | undefined;
    child.stdout.once('data', () => { first = process.hrtime.bigint() - t0; });
    child.once('error', reject);
    child.once('exit', () => (first === undefined ? reject(new Error('no output')) : resolve(first)));
  });
}

async function main(): Promise<string> {
  const rounds = numArg(2, 'BENCH_RUN_ROUNDS', 20);
  const tree = await mountTree('run');
  try {
    await fs.writeFile(path.join(tree.mnt, 'ctl'), 'create bench net=none\n');
    const c = (...p: string[]) => path.join(tree.mnt, 'containers', 'bench', ...p);
    const toByte: number[] = [];
    const toExit: number[] = [];
    const raw: number[] = [];
    for (let i = 0; i < rounds; i++) {
      let t0 = process.hrtime.bigint();
      const fh = await fs.open(c('ctl'), 'r+');
      await fh.write('run echo x\n');
      const buf = Buffer.alloc(64);
      const { bytesRead } = await fh.read(buf, 0, 64, 0);
      await fh.close();
      const id = buf.subarray(0, bytesRead).toString().trim();
      await firstByte(c('procs', id, 'stdout'));
      toByte.push(ms(process.hrtime.bigint() - t0));

      t0 = process.hrtime.bigint();
      const fh2 = await fs.open(c('ctl'), 'r+');
      await fh2.write('run true\n');
      const n2 = (await fh2.read(buf, 0, 64, 0)).bytesRead;
      await fh2.close();
      await fs.readFile(c('procs', buf.subarray(0, n2).toString().trim(), 'wait'));
      toExit.push(ms(process.hrtime.bigint() - t0));

      raw.push(ms(await rawExec(tree.state, 'bench', ['echo', 'x'])));
    }
    const r = median(raw);
    const b = median(toByte) / r;
    const x = median(toExit) / r;
    return [
      '## 2. run → first byte, run → exit',
      '',
      `${command('run-first-byte', [rounds])}: one container; \`run echo x\` through \`ctl\` (read back the id on the same open file) ` +
        'to the first byte read from `procs/ID/stdout`, and `run true` to the return of a read of `procs/ID/wait`, against ' +
        '`runc exec` of `echo x` in the same container (spawn to the first byte on its stdout pipe), rounds interleaved.',
      '',
      `| figure (median of ${rounds}) | wardenfs | raw runc exec | ratio |`,
      '|---|---|---|---|',
      report('run → first stdout byte', toByte, raw),
      report('run → exit seen through wait', toExit, raw),
      '',
      goal('run within 1.2× raw runc (first byte and exit)', b <= 1.2 && x <= 1.2, `${fmt(b)}× and ${fmt(x)}×`),
    ].join('\n') + '\n';
  } finally {
    await tree.close();
  }
}

benchMain(main);
