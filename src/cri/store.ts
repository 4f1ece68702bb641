/**
 * What the CRI face keeps beside the tree (docs/cri.md, "State"): one JSON file per pod
 * sandbox, container and pulled image under STATE/cri/, written atomically, read back at
 * start, so that a restarted daemon reports the same ids, metadata, labels, annotations and
 * states. The tree's own record (container.json) stays core's: what the tree shows of a CRI
 * object (its properties) is made from these at create.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic, readJson } from '../util/files.js';
import { logger } from '../util/log.js';

const log = logger('cri');

export interface PodMeta { name: string; uid: string; namespace: string; attempt: number }
export interface PortMap { protocol: string; container_port: number; host_port: number; host_ip: string }

export interface PodRecord {
  id: string;
  /** Its container in the tree. */
  tree: string;
  metadata: PodMeta;
  hostname: string;
  logDirectory: string;
  portMappings: PortMap[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  runtimeHandler: string;
  /** Nanoseconds since the epoch, as text (more than a double holds exactly). */
  createdAt: string;
  state: 'SANDBOX_READY' | 'SANDBOX_NOTREADY';
}

export interface CtrRecord {
  id: string;
  podId: string;
  tree: string;
  metadata: { name: string; attempt: number };
  /** The reference as asked (ImageSpec.image), and the image it resolved to. */
  image: string;
  imageId: string;
  imageRef: string;
  command: string[];
  args: string[];
  workingDir: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** The absolute log path (log_directory + log_path), '' for none. */
  logPath: string;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  exitCode?: number;
  reason?: string;
  /** How far the main process's output is in the log (cri/log.ts): a restarted daemon goes on from there. */
  logOffsets?: { stdout: number; stderr: number };
}

export interface ImgRecord {
  /** The image's name in the tree. */
  tree: string;
  id: string;
  repoTags: string[];
  repoDigests: string[];
}

type Kind = 'pods' | 'containers' | 'images';

/** Ids and tree names are checked before they become file names. */
const SAFE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export class CriStore {
  readonly pods = new Map<string, PodRecord>();
  readonly containers = new Map<string, CtrRecord>();
  /** By tree name. */
  readonly images = new Map<string, ImgRecord>();

  constructor(private readonly dir: string) {}

  private file(kind: Kind, key: string): string {
    if (!SAFE.test(key)) throw new Error(`bad CRI key ${JSON.stringify(key)}`);
    return path.join(this.dir, kind, `${key}.json`);
  }

  async load(): Promise<void> {
    for (const kind of ['pods', 'containers', 'images'] as const) {
      await fs.mkdir(path.join(this.dir, kind), { recursive: true, mode: 0o700 });
      for (const f of await fs.readdir(path.join(this.dir, kind))) {
        if (!f.endsWith('.json') || !SAFE.test(f.slice(0, -5))) continue;
        const rec = await readJson<Record<string, unknown>>(path.join(this.dir, kind, f)).catch((e: unknown) => {
          log('unreadable %s/%s: %s (left for an operator)', kind, f, e);
          return undefined;
        });
        if (!rec) continue;
        if (kind === 'pods') this.pods.set(f.slice(0, -5), rec as unknown as PodRecord);
        else if (kind === 'containers') this.containers.set(f.slice(0, -5), rec as unknown as CtrRecord);
        else this.images.set(f.slice(0, -5), rec as unknown as ImgRecord);
      }
    }
  }

  async savePod(r: PodRecord): Promise<void> {
    await writeFileAtomic(this.file('pods', r.id), JSON.stringify(r, null, 2) + '\n', 0o600);
    this.pods.set(r.id, r);
  }

  async saveContainer(r: CtrRecord): Promise<void> {
    await writeFileAtomic(this.file('containers', r.id), JSON.stringify(r, null, 2) + '\n', 0o600);
    this.containers.set(r.id, r);
  }

  async saveImage(r: ImgRecord): Promise<void> {
    await writeFileAtomic(this.file('images', r.tree), JSON.stringify(r, null, 2) + '\n', 0o600);
    this.images.set(r.tree, r);
  }

  async dropPod(id: string): Promise<void> {
    await fs.rm(this.file('pods', id), { force: true });
    this.pods.delete(id);
  }

  async dropContainer(id: string): Promise<void> {
    await fs.rm(this.file('containers', id), { force: true });
    this.containers.delete(id);
  }

  async dropImage(tree: string): Promise<void> {
    await fs.rm(this.file('images', tree), { force: true });
    this.images.delete(tree);
  }
}
