/**
 * The tree of docs/interface.md §3, as tables of nodes (Plan 9's Dirtab). Each directory lists its
 * children here; what a file does is its node kind's business, and what it means is the
 * domain's (core/). No container logic lives in this file.
 */
import type { Warden } from '../core/warden.js';
import type { Container } from '../core/container.js';
import { GLOBAL_USAGE, CONTAINER_USAGE, PROCESS_USAGE } from '../ctl/messages.js';
import { quoteAll } from '../ctl/tokenize.js';
import { statusLine, type Proc } from '../core/process.js';
import { streamFile, streamNowFile } from './nodes/stream.js';
import { waitFile, stdinFile } from './nodes/process.js';
import { parseName, parseWinsize } from '../ctl/values.js';
import { formatPortForward, formatEgressRule, formatRate } from '../model/net.js';
import { NotPermitted, Busy, q, describe } from '../errors.js';
import { tableDir, dynamicDir, type Entry } from './nodes/dir.js';
import { textFile } from './nodes/text.js';
import { generatedFile } from './nodes/generated.js';
import { ctlFile } from './nodes/ctl.js';
import { logFile } from './nodes/log.js';
import { HostDir } from './nodes/hostdir.js';
import { linkNode } from './nodes/link.js';
import { IdShift } from './nodes/idshift.js';
import type { Caller, DirNode, Node } from './nodes/types.js';
import { logRequest } from '../core/commands.js';
import type { EventLog } from '../core/events.js';
import { statusText } from '../core/status.js';
import { CGROUP_KEYS, isLimitKey } from '../model/limits.js';
import { setLimit } from '../core/limits.js';
import { valueFile } from './nodes/value.js';
import { tableFile } from './nodes/table.js';
import { setPorts, setRules, setRate } from '../core/netconfig.js';
import { setProperties, setGrace, propertyKeys, propertyValues, withProperty } from '../core/properties.js';
import { formatProperties, formatGrace, parseProperty, parsePropertyKey, parsePropertyValue } from '../ctl/props.js';

/** A message refused as too long: its caller, then the error, in the events where its errors go. */
function refuser(events: EventLog, prefix = '') {
  return async (message: string, who?: Caller): Promise<void> => {
    await logRequest(events, 'ctl', who, `${prefix}(a message of more than 1 MiB)`);
    await events.error(message);
  };
}
import { setMounts } from '../core/mounts.js';
import { setDiskMax, diskMaxText, diskCurrentText } from '../core/disk.js';
import { formatBindMount } from '../model/mounts.js';

function procDir(w: Warden, c: Container, p: Proc): DirNode {
  const files = tableDir(() => [
    ['cmdline', textFile(() => quoteAll(p.meta.argv) + '\n')],
    ['pid', textFile(() => `${p.pid}\n`)],
    ['status', textFile(() => statusLine(p.status) + '\n')],
    ['wait', waitFile(p, w.readers)],
    ['stdout', streamFile(p, 'stdout', w.readers)],
    ['stderr', streamFile(p, 'stderr', w.readers)],
    ['stdout.now', streamNowFile(p, 'stdout')],
    ['stderr.now', streamNowFile(p, 'stderr')],
    ['stdin', stdinFile((data, abort) => c.procs.writeStdin(p.id, data, abort, w.readers))],
    ['ctl', ctlFile((text, who) => w.commands.process(c.name, p.id, text, who), PROCESS_USAGE, refuser(c.events, `process ${p.id}: `))],
    // A process with a terminal (run tty=1): its size, `ROWS COLS`; a write resizes it.
    ...(p.tty ? [['winsize', valueFile(async () => {
      const { rows, cols } = await c.procs.winsize(p.id);
      return `${rows} ${cols}\n`;
    }, (text) => c.procs.resize(p.id, parseWinsize(text)))] as Entry] : []),
  ]);
  // Unlinking a file of procs/ID is how `rm -r procs/ID` begins: a no-op for an ended
  // process (rmdir then forgets it), EBUSY while it runs (so nothing at all happens).
  const unlink = async (): Promise<void> => {
    if (c.procs.get(p.id).running) throw new Busy(`process ${q(p.id)} is running`);
  };
  return { ...files, unlink };
}

const RUNNING = '.running';

function procsDir(w: Warden, c: Container): DirNode {
  return dynamicDir({
    use: () => c.touch(),
    list: () => c.procs.ids(),
    child: (id) => {
      // procs/.running: the ids of the running processes, one a line. Never an id (ids start
      // with a letter or digit) and not listed: the listing of procs/ stays the ids.
      if (id === RUNNING) return textFile(() => c.procs.runningIds().map((i) => i + '\n').join(''));
      const p = c.procs.find(id);
      return p ? procDir(w, c, p) : undefined;
    },
    // rmdir procs/ID forgets an ended process (EBUSY while it runs).
    rmdir: (id) => c.procs.forget(id),
  });
}

function cgroupDir(c: Container): DirNode {
  return tableDir(() => CGROUP_KEYS.map((key) => [key, valueFile(() => c.cgroup.read(key), isLimitKey(key) ? (text) => setLimit(c, key, text) : undefined)]));
}

function netDir(w: Warden, c: Container): DirNode {
  const n = w.network;
  return tableDir(() => [
    ['address', textFile(() => n.addressOf(c.record) + '\n')],
    ['ports', tableFile({ key: `${c.name}/ports`, lines: () => (c.record.settings.ports ?? []).map(formatPortForward), set: (lines) => setPorts(n, c, lines), refuse: (m) => c.events.error(m) })],
    ['rules', tableFile({ key: `${c.name}/rules`, lines: () => (c.record.settings.rules ?? []).map(formatEgressRule), set: (lines) => setRules(n, c, lines), refuse: (m) => c.events.error(m) })],
    ['rate', valueFile(async () => `${formatRate(c.record.settings.rate ?? 'max')}\n`, (text) => setRate(n, c, text))],
    ['stats', textFile(async () => Object.entries(await n.stats(c.record)).map(([k, v]) => `${k} ${v}\n`).join(''))],
  ]);
}

/**
 * containers/NAME/rootfs and containers/NAME/procs are symlinks to rootfs/NAME and
 * procs/NAME, where the container's files and its processes are: `rm -rf containers/NAME`
 * does not follow symlinks, so it never descends into them (it would delete the files of
 * the layer one by one, and forget ended processes, since `rm -r procs/ID` works), and
 * the links themselves cannot be removed (docs/decisions.md, "rm -rf of a container").
 */
function containerDir(w: Warden, c: Container): DirNode {
  const rootfs = linkNode(`../../rootfs/${c.name}`);
  const procs = linkNode(`../../procs/${c.name}`);
  const dir = tableDir(() => [
    ['ctl', ctlFile((text, who) => w.commands.container(c.name, text, who), CONTAINER_USAGE, refuser(c.events))],
    ['status', textFile(() => statusText(c, w.network.addressOf(c.record)))],
    ['events', logFile(c.paths.events)],
    ['procs', procs],
    ['cgroup', cgroupDir(c)],
    ['net', netDir(w, c)],
    ['metrics', textFile(() => w.metrics(c), { sizeAtStat: false })],
    ['mounts', tableFile({ key: `${c.name}/mounts`, lines: () => (c.record.settings.mounts ?? []).map(formatBindMount), set: (lines) => setMounts(c, lines, w.lifecycle.mountPolicy), refuse: (m) => c.events.error(m) })],
    ['disk.max', valueFile(async () => diskMaxText(c), (text) => setDiskMax(c, text))],
    ['disk.current', textFile(() => diskCurrentText(c))],
    ['rootfs', rootfs],
    ['properties', tableFile({ key: `${c.name}/properties`, lines: () => formatProperties(c.record.properties ?? {}), set: (lines) => setProperties(c, lines), refuse: (m) => c.events.error(m) })],
    ['grace', valueFile(async () => `${formatGrace(c.record.grace)}\n`, (text) => setGrace(c, text))],
  ]);
  return { ...dir, use: () => c.touch() };
}

function containersDir(w: Warden): DirNode {
  return dynamicDir({
    list: () => w.registry.names(),
    child: (name) => {
      const c = w.registry.find(name);
      return c ? containerDir(w, c) : undefined;
    },
    // mkdir NAME creates a container with defaults; rmdir NAME destroys it. The caller and
    // errors are logged as a ctl message's are.
    async mkdir(name, _mode, who) {
      await logRequest(w.events, 'mkdir', who, `containers/${name}`);
      try {
        await w.lifecycle.create(parseName(name, 'container name'), { env: [], settings: {} });
      } catch (e) {
        await w.events.error(describe(e));
        throw e;
      }
    },
    async rmdir(name, who) {
      await logRequest(w.events, 'rmdir', who, `containers/${name}`);
      try {
        await w.lifecycle.destroy(name);
      } catch (e) {
        await w.events.error(describe(e));
        throw e;
      }
    },
  });
}

/** A directory with one entry per container (rootfs/, procs/): `make` gives a container's. */
function perContainer(w: Warden, make: (c: Container) => Node, shared = false): DirNode {
  return dynamicDir({
    shared,
    list: () => w.registry.names(),
    child: (name) => {
      const c = w.registry.find(name);
      return c ? make(c) : undefined;
    },
  });
}

/**
 * rootfs/NAME: each container's root, read-write through its resolver. Owners are shown in
 * the container's ids, but with --allow-other: then in host ids, which the kernel compares
 * with its callers' (docs/rootfs.md, "Callers"). Either way what root makes there is the
 * container's root's.
 */
function containerRoot(c: Container, hostIds: boolean): Node {
  const m = c.record.idmap;
  const opts = !m ? {} : hostIds ? { owner: m.base } : { ids: new IdShift(m.base, m.size) };
  const root = new HostDir(() => c.rootfs(), `container:${c.name}`, false, opts);
  root.use = () => c.touch();
  return root;
}

/** A directory of links to the containers `names()` gives, `up` levels below the top. */
function linksDir(names: () => string[], up: number): DirNode {
  const prefix = '../'.repeat(up);
  return dynamicDir({
    list: names,
    child: (name) => (names().includes(name) ? linkNode(`${prefix}containers/${name}`) : undefined),
  });
}

function validName(parse: () => unknown): boolean {
  try {
    parse();
    return true;
  } catch {
    return false;
  }
}

/**
 * by-property/ (docs/interface.md §5.9): lists the keys in use; `KEY/` lists the values of
 * KEY in use, each a directory of links to the containers that have it; `KEY=VALUE/` (looked
 * up, not listed: every container would appear twice to find or du) the same links for one
 * pair, and exists for any valid pair (empty when no container has it). Computed at each
 * request from the registry: never stale (attributes are not cached, listings are asked).
 */
function byPropertyDir(w: Warden): DirNode {
  const all = () => w.registry.all();
  return dynamicDir({
    list: () => propertyKeys(all()),
    child: (name) => {
      if (name.includes('=')) {
        if (!validName(() => parseProperty(name))) return undefined;
        const [key, value] = parseProperty(name);
        return linksDir(() => withProperty(all(), key, value), 2);
      }
      if (!validName(() => parsePropertyKey(name)) || !propertyKeys(all()).includes(name)) return undefined;
      return dynamicDir({
        list: () => propertyValues(all(), name),
        child: (value) => {
          if (!validName(() => parsePropertyValue(name, value)) || !propertyValues(all(), name).includes(value)) return undefined;
          return linksDir(() => withProperty(all(), name, value), 3);
        },
      });
    },
  });
}

function imagesDir(w: Warden): DirNode {
  return dynamicDir({
    list: () => w.images.list(),
    child: async (name) => {
      if (!(await w.images.has(name))) return undefined;
      return tableDir(() => [
        ['rootfs', new HostDir(() => w.images.resolver(name), `image:${name}`, true, {})],
        ['config', textFile(() => w.images.configText(name))],
        ['export.tar', generatedFile(() => w.images.export(name))],
      ]);
    },
    async mkdir() {
      throw new NotPermitted('use "image import NAME PATH" in ctl');
    },
  });
}

export interface TreeOptions {
  /** wardenfs mount --allow-other: rootfs/ shows host ids (containerRoot). */
  allowOther?: boolean;
}

export function buildTree(w: Warden, opts: TreeOptions = {}): DirNode {
  const root = tableDir(() => [
    ['ctl', ctlFile((text, who) => w.commands.global(text, who), GLOBAL_USAGE, refuser(w.events))],
    ['events', logFile(w.paths.events)],
    ['metrics', textFile(() => w.metrics(), { sizeAtStat: false })],
    ['images', imagesDir(w)],
    ['containers', containersDir(w)],
    ['by-property', byPropertyDir(w)],
    // the one way in for other users (--allow-other): / and rootfs/ are shared, all else is root's
    ['rootfs', perContainer(w, (c) => containerRoot(c, opts.allowOther ?? false), true)],
    ['procs', perContainer(w, (c) => procsDir(w, c))],
  ]);
  return { ...root, shared: true };
}
