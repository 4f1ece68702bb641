/**
 * The RuntimeService of the CRI face (docs/cri.md): pod sandboxes and containers as
 * containers of the tree. A pod sandbox is a container whose idle init is the pause process
 * and whose network namespace, address and port forwards are the pod's; a CRI container is
 * a container that joins its pod's namespaces (core: CreateOptions.joins), with its own
 * image and layer, whose main process is the run `main` (its end is the container's end).
 * Everything goes through core as the tree's own messages do: one registry.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Warden } from '../core/warden.js';
import type { Container } from '../core/container.js';
import type { PortForward } from '../model/net.js';
import { BadRequest, Busy, NotFound, q } from '../errors.js';
import { parseSignal, parseLimit } from '../ctl/values.js';
import { putLimit, type Limits } from '../model/limits.js';
import { newId, treeName, uniqueName, crProperties, limitTexts, type CriResources } from './names.js';
import type { CriStore, PodRecord, CtrRecord, PodMeta, PortMap } from './store.js';
import type { CriImages } from './images.js';
import { ContainerLog } from './log.js';
import { logger } from '../util/log.js';

const log = logger('cri');

/** The run of a CRI container that is its main process. */
export const MAIN = 'main';

/** ExecSync output kept per stream (the CRI asks runtimes to cap it at 16 MiB). */
const EXEC_CAP = 16 * 1024 * 1024;

/** Now in nanoseconds since the epoch, as text. */
export function nowNs(): string {
  return (BigInt(Date.now()) * 1_000_000n).toString();
}

/** A run's end as an exit code, a signal as 128+N (as a shell reports it). */
function exitCode(st: { state: string; code?: number; signal?: string }): number {
  if (st.state === 'exited') return st.code ?? 0;
  if (st.state === 'killed') return 128 + parseSignal(st.signal ?? 'KILL').number;
  return 0;
}

const msToNs = (ms: number): string => (BigInt(Math.round(ms)) * 1_000_000n).toString();

/** A request's field as a string map (proto-loader gives `{}` for an absent map). */
const strMap = (m: unknown): Record<string, string> => (m && typeof m === 'object' ? { ...(m as Record<string, string>) } : {});

function matches(labels: Record<string, string>, selector: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

export type CtrState = 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN';

export class CriRuntime {
  /** Log writers of running main processes, by container id. */
  private readonly logs = new Map<string, ContainerLog>();
  /** Pods and containers being made, by their metadata: a second request for the same waits its turn by failing. */
  private readonly making = new Set<string>();

  /** Run `fn` with `key` held; a request for a key held already is FAILED_PRECONDITION. */
  private async exclusive<T>(key: string, fn: () => Promise<T>): Promise<T> {
    if (this.making.has(key)) throw new Busy(`${key} is being made`);
    this.making.add(key);
    try {
      return await fn();
    } finally {
      this.making.delete(key);
    }
  }

  constructor(private readonly w: Warden, private readonly store: CriStore, private readonly images: CriImages) {}

  /**
   * At start, after the store is loaded: forget what the tree no longer has (destroyed through
   * the tree meanwhile), record ends that happened while no daemon ran, follow the logs again.
   */
  async adopt(): Promise<void> {
    for (const c of [...this.store.containers.values()]) {
      if (!this.w.registry.find(c.tree)) {
        log('container %s (%s) is gone from the tree: forgotten', c.id, c.tree);
        await this.store.dropContainer(c.id);
        continue;
      }
      await this.follow(c);
    }
    for (const p of [...this.store.pods.values()]) {
      if (!this.w.registry.find(p.tree)) {
        log('pod sandbox %s (%s) is gone from the tree: forgotten', p.id, p.tree);
        await this.store.dropPod(p.id);
      }
    }
  }

  /** At the daemon's stop: every log's offsets recorded, so that the next daemon writes no line twice. */
  async close(): Promise<void> {
    for (const l of this.logs.values()) await l.flush().catch((e: unknown) => log('log offsets of %s: %s', l.file, e));
  }

  // ---- pod sandboxes

  async runPodSandbox(config: Record<string, unknown> | null, handler: string): Promise<string> {
    const md = (config?.metadata ?? {}) as Partial<PodMeta>;
    return this.exclusive(`pod sandbox ${JSON.stringify([md.name, md.namespace, md.uid, md.attempt])}`, () => this.makePod(config, handler));
  }

  private async makePod(config: Record<string, unknown> | null, handler: string): Promise<string> {
    if (!config) throw new BadRequest('no sandbox config');
    if (handler !== '') throw new BadRequest(`unknown runtime handler ${q(handler)}: wardenfs has only the default ("")`);
    const md = (config.metadata ?? {}) as Partial<PodMeta>;
    if (!md.name || !md.namespace || !md.uid) throw new BadRequest('the sandbox metadata needs name, namespace and uid');
    const metadata: PodMeta = { name: md.name, namespace: md.namespace, uid: md.uid, attempt: Number(md.attempt ?? 0) };
    for (const p of this.store.pods.values()) {
      const m = p.metadata;
      if (m.name === metadata.name && m.namespace === metadata.namespace && m.uid === metadata.uid && m.attempt === metadata.attempt) {
        throw new Busy(`pod sandbox ${q(`${m.name}_${m.namespace}_${m.uid}_${m.attempt}`)} exists as ${p.id}`);
      }
    }
    const portMappings = ((config.port_mappings ?? []) as PortMap[]).map((m) => ({ ...m }));
    const ports = portMappings.filter((m) => m.host_port > 0).map((m): PortForward => {
      if (m.protocol !== 'TCP' && m.protocol !== 'UDP') throw new BadRequest(`port mapping protocol ${q(String(m.protocol))} is not supported (TCP, UDP)`);
      if (!(m.container_port > 0 && m.container_port < 65536 && m.host_port < 65536)) throw new BadRequest(`bad port mapping ${m.host_port}:${m.container_port}`);
      return { hostPort: m.host_port, containerPort: m.container_port, proto: m.protocol === 'TCP' ? 'tcp' : 'udp', ...(m.host_ip ? { hostIp: m.host_ip } : {}) };
    });
    const id = newId();
    const labels = strMap(config.labels);
    const annotations = strMap(config.annotations);
    let tree = treeName([metadata.name, metadata.namespace], metadata.attempt);
    if (this.w.registry.taken(tree)) tree = uniqueName(tree, id);
    const properties = crProperties({ 'cri.kind': 'pod', 'cri.id': id }, labels, annotations);
    const hostname = String(config.hostname ?? '');
    const c = await this.w.lifecycle.create(tree, { env: [], settings: ports.length ? { ports } : {}, properties, ...(hostname ? { hostname } : {}) });
    const rec: PodRecord = {
      id, tree, metadata, hostname: String(config.hostname ?? ''), logDirectory: String(config.log_directory ?? ''),
      portMappings, labels, annotations, runtimeHandler: handler, createdAt: nowNs(), state: 'SANDBOX_READY',
    };
    try {
      await this.store.savePod(rec);
    } catch (e) {
      await this.w.lifecycle.destroy(c.name).catch((de: unknown) => log('undoing %s: %s', c.name, de));
      throw e;
    }
    log('pod sandbox %s is %s', id, tree);
    return id;
  }

  private pod(id: string): PodRecord {
    const p = this.store.pods.get(id) ?? this.byPrefix(this.store.pods, id);
    if (!p) throw new NotFound(`no such pod sandbox ${q(id)}`);
    return p;
  }

  /** crictl and people give unique id prefixes. */
  private byPrefix<T>(m: Map<string, T>, id: string): T | undefined {
    if (id.length < 6) return undefined;
    const hits = [...m.entries()].filter(([k]) => k.startsWith(id));
    return hits.length === 1 ? hits[0]![1] : undefined;
  }

  private containersOf(podId: string): CtrRecord[] {
    return [...this.store.containers.values()].filter((c) => c.podId === podId);
  }

  /** StopPodSandbox: every container's processes ended; the sandbox NOTREADY. Unknown or stopped: success. */
  async stopPodSandbox(id: string): Promise<void> {
    const p = this.store.pods.get(id) ?? this.byPrefix(this.store.pods, id);
    if (!p) return;
    for (const c of this.containersOf(p.id)) await this.stopContainer(c.id, 0);
    const pc = this.w.registry.find(p.tree);
    if (pc) await pc.procs.stop(0);
    if (p.state !== 'SANDBOX_NOTREADY') await this.store.savePod({ ...p, state: 'SANDBOX_NOTREADY' });
  }

  /** RemovePodSandbox: its containers, then the sandbox. Unknown: success. */
  async removePodSandbox(id: string): Promise<void> {
    const p = this.store.pods.get(id) ?? this.byPrefix(this.store.pods, id);
    if (!p) return;
    for (const c of this.containersOf(p.id)) await this.removeContainer(c.id);
    if (this.w.registry.find(p.tree)) await this.w.lifecycle.destroy(p.tree);
    await this.store.dropPod(p.id);
  }

  podStatus(id: string): Record<string, unknown> {
    const p = this.pod(id);
    const c = this.w.registry.find(p.tree);
    const ip = c?.record.address?.replace(/\/\d+$/, '') ?? '';
    return {
      id: p.id, metadata: p.metadata, state: c ? p.state : 'SANDBOX_NOTREADY', created_at: p.createdAt,
      network: { ip, additional_ips: [] },
      linux: { namespaces: { options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD', target_id: '' } } },
      labels: p.labels, annotations: p.annotations, runtime_handler: p.runtimeHandler,
    };
  }

  listPodSandbox(filter: Record<string, unknown> | null): Record<string, unknown>[] {
    const f = filter ?? {};
    const want = (f.state as { state?: string } | null)?.state;
    const sel = strMap(f.label_selector);
    return [...this.store.pods.values()]
      .filter((p) => !f.id || p.id === f.id || (String(f.id).length >= 6 && p.id.startsWith(String(f.id))))
      .map((p) => this.podStatus(p.id))
      .filter((s) => (want === undefined || s.state === want) && matches(s.labels as Record<string, string>, sel))
      .map(({ id, metadata, state, created_at, labels, annotations, runtime_handler }) => ({ id, metadata, state, created_at, labels, annotations, runtime_handler }));
  }

  // ---- containers

  async createContainer(podId: string, config: Record<string, unknown> | null): Promise<string> {
    const md = (config?.metadata ?? {}) as { name?: string; attempt?: number };
    return this.exclusive(`container ${JSON.stringify([podId, md.name, md.attempt])}`, () => this.makeContainer(podId, config));
  }

  private async makeContainer(podId: string, config: Record<string, unknown> | null): Promise<string> {
    if (!config) throw new BadRequest('no container config');
    const p = this.pod(podId);
    if (p.state !== 'SANDBOX_READY') throw new BadRequest(`pod sandbox ${q(p.id)} is not ready`);
    const md = (config.metadata ?? {}) as { name?: string; attempt?: number };
    if (!md.name) throw new BadRequest('the container metadata needs a name');
    const metadata = { name: md.name, attempt: Number(md.attempt ?? 0) };
    for (const c of this.containersOf(p.id)) {
      if (c.metadata.name === metadata.name && c.metadata.attempt === metadata.attempt) throw new Busy(`container ${q(`${metadata.name}_${metadata.attempt}`)} exists in pod sandbox ${p.id} as ${c.id}`);
    }
    const image = String((config.image as { image?: string } | null)?.image ?? '');
    if (!image) throw new BadRequest('the container config needs an image');
    const treeImage = await this.images.resolve(image);
    if (treeImage === undefined) throw new NotFound(`no such image ${q(image)}: pull it first`);
    const described = await this.images.describe(treeImage);
    const envs = ((config.envs ?? []) as Array<{ key: string; value: string }>).map((e) => {
      if (!e.key || e.key.includes('=')) throw new BadRequest(`bad environment variable name ${q(e.key)}`);
      return `${e.key}=${e.value}`;
    });
    const id = newId();
    const labels = strMap(config.labels);
    const annotations = strMap(config.annotations);
    let tree = treeName([p.metadata.name, p.metadata.namespace, metadata.name], metadata.attempt);
    if (this.w.registry.taken(tree)) tree = uniqueName(tree, id);
    const properties = crProperties({ 'cri.kind': 'container', 'cri.id': id, 'cri.pod': p.tree }, labels, annotations);
    const logPath = p.logDirectory && config.log_path ? path.join(p.logDirectory, String(config.log_path)) : '';
    // Limits as the tree's cgroup/ files take them (checked the same way; a bad one is INVALID_ARGUMENT).
    const settings: Limits = {};
    for (const [key, text] of limitTexts((config.linux as { resources?: CriResources } | null)?.resources)) putLimit(settings, parseLimit(key, text));
    const c = await this.w.lifecycle.create(tree, { image: treeImage, env: envs, settings, properties, joins: p.tree });
    const rec: CtrRecord = {
      id, podId: p.id, tree, metadata, image, imageId: described.id, imageRef: described.repo_digests[0] ?? described.id,
      command: (config.command ?? []) as string[], args: (config.args ?? []) as string[], workingDir: String(config.working_dir ?? ''),
      labels, annotations, logPath, createdAt: nowNs(),
    };
    try {
      await this.store.saveContainer(rec);
    } catch (e) {
      await this.w.lifecycle.destroy(c.name).catch((de: unknown) => log('undoing %s: %s', c.name, de));
      throw e;
    }
    log('container %s is %s in %s', id, tree, p.tree);
    return id;
  }

  private ctr(id: string): CtrRecord {
    const c = this.store.containers.get(id) ?? this.byPrefix(this.store.containers, id);
    if (!c) throw new NotFound(`no such container ${q(id)}`);
    return c;
  }

  private treeOf(c: CtrRecord): Container {
    const tc = this.w.registry.find(c.tree);
    if (!tc) throw new NotFound(`container ${q(c.id)} is gone from the tree (${c.tree})`);
    return tc;
  }

  /** StartContainer: its main process, `command` replacing the image's Entrypoint and `args` its Cmd (Kubernetes' rule). */
  async startContainer(id: string): Promise<void> {
    const c = this.ctr(id);
    const tc = this.treeOf(c);
    if (c.startedAt !== undefined || tc.procs.find(MAIN)) throw new BadRequest(`container ${q(c.id)} was started already`);
    const [entry, ...rest] = c.command;
    await tc.procs.run({
      id: MAIN, env: [], argv: [...rest, ...c.args],
      ...(entry !== undefined ? { entrypoint: entry } : {}),
      ...(c.workingDir ? { dir: c.workingDir } : {}),
    });
    const rec = { ...c, startedAt: nowNs() };
    await this.store.saveContainer(rec);
    await this.follow(rec);
  }

  /** Write the log and record the end once the main process ends. */
  private async follow(c: CtrRecord): Promise<void> {
    const proc = this.w.registry.find(c.tree)?.procs.find(MAIN);
    if (!proc || c.finishedAt !== undefined) return;
    if (c.logPath && !this.logs.has(c.id)) {
      const l = new ContainerLog(c.logPath, proc, c.logOffsets, async (logOffsets) => {
        const now = this.store.containers.get(c.id);
        if (now) await this.store.saveContainer({ ...now, logOffsets });
      });
      this.logs.set(c.id, l);
      l.start().catch((e: unknown) => log('log of %s: %s', c.id, e));
    }
    void proc.ended.then(async () => {
      await this.logs.get(c.id)?.done();
      this.logs.delete(c.id);
      const now = this.store.containers.get(c.id);
      if (!now || now.finishedAt !== undefined) return;
      const st = proc.status;
      const code = exitCode(st);
      const exit = await fs.stat(proc.paths.exit).catch(() => undefined);
      await this.store.saveContainer({
        ...now, finishedAt: exit ? msToNs(exit.mtimeMs) : nowNs(), exitCode: code,
        reason: code === 0 ? 'Completed' : 'Error',
      });
    }).catch((e: unknown) => log('recording the end of %s: %s', c.id, e));
  }

  /** The CRI state of a container now. */
  private stateOf(c: CtrRecord): CtrState {
    const tc = this.w.registry.find(c.tree);
    if (!tc) return 'CONTAINER_UNKNOWN';
    const proc = tc.procs.find(MAIN);
    if (c.finishedAt !== undefined || (proc && !proc.running)) return 'CONTAINER_EXITED';
    if (proc?.running) return 'CONTAINER_RUNNING';
    return c.startedAt !== undefined ? 'CONTAINER_EXITED' : 'CONTAINER_CREATED';
  }

  /** StopContainer: TERM, KILL after `timeout` seconds (0: at once). Stopped, never started or unknown: success. */
  async stopContainer(id: string, timeout: number): Promise<void> {
    const c = this.store.containers.get(id) ?? this.byPrefix(this.store.containers, id);
    if (!c) return;
    const tc = this.w.registry.find(c.tree);
    const proc = tc?.procs.find(MAIN);
    if (!tc || !proc?.running) return;
    // 0: forcibly at once (the CRI's words): KILL, not TERM first; then whatever else runs in it.
    if (timeout <= 0) await tc.procs.kill(MAIN, { number: 9, name: 'KILL' }).catch((e: unknown) => log('KILL %s: %s (ended meanwhile)', c.tree, e));
    await tc.procs.stop(Math.max(0, timeout));
    await proc.ended;
    // The end is recorded by follow(); wait for it so that a status right after says EXITED with its code.
    for (let i = 0; i < 100 && this.store.containers.get(c.id)?.finishedAt === undefined; i++) await new Promise((r) => setTimeout(r, 10));
  }

  /** RemoveContainer: a running one is killed first. Unknown: success. */
  async removeContainer(id: string): Promise<void> {
    const c = this.store.containers.get(id) ?? this.byPrefix(this.store.containers, id);
    if (!c) return;
    if (this.w.registry.find(c.tree)) await this.w.lifecycle.destroy(c.tree);
    await this.logs.get(c.id)?.done();
    this.logs.delete(c.id);
    await this.store.dropContainer(c.id);
  }

  containerStatus(id: string): Record<string, unknown> {
    const c = this.ctr(id);
    const state = this.stateOf(c);
    const proc = this.w.registry.find(c.tree)?.procs.find(MAIN);
    const st = proc?.status;
    const ended = state === 'CONTAINER_EXITED';
    const code = c.exitCode ?? (st ? exitCode(st) : 0);
    return {
      id: c.id, metadata: c.metadata, state, created_at: c.createdAt, started_at: c.startedAt ?? '0',
      finished_at: ended ? (c.finishedAt ?? nowNs()) : '0', exit_code: ended ? code : 0,
      image: { image: c.image }, image_ref: c.imageRef, image_id: c.imageId,
      reason: ended ? (c.reason ?? (code === 0 ? 'Completed' : 'Error')) : '', message: '',
      labels: c.labels, annotations: c.annotations, log_path: c.logPath,
    };
  }

  listContainers(filter: Record<string, unknown> | null): Record<string, unknown>[] {
    const f = filter ?? {};
    const want = (f.state as { state?: string } | null)?.state;
    const sel = strMap(f.label_selector);
    return [...this.store.containers.values()]
      .filter((c) => !f.id || c.id === f.id || (String(f.id).length >= 6 && c.id.startsWith(String(f.id))))
      .filter((c) => !f.pod_sandbox_id || c.podId === f.pod_sandbox_id || (String(f.pod_sandbox_id).length >= 6 && c.podId.startsWith(String(f.pod_sandbox_id))))
      .filter((c) => matches(c.labels, sel))
      .map((c) => ({
        id: c.id, pod_sandbox_id: c.podId, metadata: c.metadata, image: { image: c.image }, image_ref: c.imageRef, image_id: c.imageId,
        state: this.stateOf(c), created_at: c.createdAt, labels: c.labels, annotations: c.annotations,
      }))
      .filter((c) => want === undefined || c.state === want);
  }

  /**
   * ExecSync: a run in the container, waited for (killed after `timeout` seconds, then
   * DEADLINE_EXCEEDED by the server), its output read back and the run forgotten.
   */
  async execSync(id: string, cmd: string[], timeout: number): Promise<{ stdout: Buffer; stderr: Buffer; exit_code: number; timedOut: boolean }> {
    const c = this.ctr(id);
    if (this.stateOf(c) !== 'CONTAINER_RUNNING') throw new BadRequest(`container ${q(c.id)} is not running`);
    if (cmd.length === 0 || !cmd[0]) throw new BadRequest('no command to run');
    const tc = this.treeOf(c);
    const pid = await tc.procs.run({ env: [], argv: cmd.slice(1), entrypoint: cmd[0]! });
    const proc = tc.procs.get(pid);
    let timedOut = false;
    if (timeout > 0) {
      const timer = setTimeout(() => {
        timedOut = true;
        void tc.procs.kill(pid, { number: 9, name: 'KILL' }).catch(() => undefined); // ended meanwhile: nothing to kill
      }, timeout * 1000);
      await proc.ended.finally(() => clearTimeout(timer));
    } else {
      await proc.ended;
    }
    const read = async (file: string): Promise<Buffer> => {
      const fh = await fs.open(file, 'r');
      try {
        const buf = Buffer.alloc(Math.min((await fh.stat()).size, EXEC_CAP));
        const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
        return buf.subarray(0, bytesRead);
      } finally {
        await fh.close();
      }
    };
    const [stdout, stderr] = await Promise.all([read(proc.paths.stdout), read(proc.paths.stderr)]);
    const st = proc.status;
    const exit_code = exitCode(st);
    await tc.procs.forget(pid).catch((e: unknown) => log('forgetting exec %s of %s: %s', pid, c.tree, e));
    return { stdout, stderr, exit_code, timedOut };
  }
}
