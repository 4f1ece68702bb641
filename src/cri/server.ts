/**
 * The CRI face: gRPC `runtime.v1.RuntimeService` and `ImageService` on a unix socket
 * (`wardenfs mount … --cri-socket PATH`), beside the tree and over the same Warden (one
 * registry: what kubelet makes is in the tree). The services are declared by our own
 * proto/runtime-v1.proto (wire-compatible with k8s.io/cri-api's runtime.v1), loaded here by
 * @grpc/proto-loader. Errors are gRPC status codes: NotFound → NOT_FOUND, BadRequest →
 * INVALID_ARGUMENT, Exists → ALREADY_EXISTS, Busy → FAILED_PRECONDITION, NoSpace →
 * RESOURCE_EXHAUSTED, anything else UNKNOWN with the message (and logged).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { Warden } from '../core/warden.js';
import { BadRequest, Busy, Exists, NoSpace, NotFound, AddressInUse, describe } from '../errors.js';
import { CriStore } from './store.js';
import { CriImages } from './images.js';
import { CriRuntime } from './runtime.js';
import { logger } from '../util/log.js';
import { isErrno } from '../util/files.js';

const log = logger('cri');

/** Where the .proto is: beside dist/ in a checkout and in the package (scripts/package.sh). */
export const PROTO_FILE = fileURLToPath(new URL('../../../proto/runtime-v1.proto', import.meta.url));

/** The CRI API version served. */
export const CRI_API_VERSION = 'v1';

export const LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

/** The gRPC status of a failure. */
export function statusOf(e: unknown): grpc.ServiceError {
  const code = e instanceof NotFound ? grpc.status.NOT_FOUND
    : e instanceof BadRequest ? grpc.status.INVALID_ARGUMENT
      : e instanceof Exists ? grpc.status.ALREADY_EXISTS
        : e instanceof Busy ? grpc.status.FAILED_PRECONDITION
          : e instanceof NoSpace ? grpc.status.RESOURCE_EXHAUSTED
            : e instanceof AddressInUse ? grpc.status.FAILED_PRECONDITION
              : e instanceof DeadlineExceeded ? grpc.status.DEADLINE_EXCEEDED
                : grpc.status.UNKNOWN;
  if (code === grpc.status.UNKNOWN) log('unexpected failure: %s', (e as Error)?.stack ?? e);
  const err = new Error(describe(e)) as grpc.ServiceError;
  err.code = code;
  err.details = describe(e);
  return err;
}

/** ExecSync's timeout passed (DEADLINE_EXCEEDED). */
export class DeadlineExceeded extends Error {}

type Handler = (req: Record<string, unknown>) => Promise<unknown>;

/** A unary handler of an async function: its value, or its failure as a status. */
function unary(name: string, fn: Handler): grpc.handleUnaryCall<Record<string, unknown>, unknown> {
  return (call, callback) => {
    log('%s %o', name, call.request);
    fn(call.request).then((r) => callback(null, r), (e: unknown) => callback(statusOf(e)));
  };
}

export interface CriOptions {
  socket: string;
  /** A directory of OCI layouts keyed by reference (docs/cri.md). */
  imageMirror?: string;
  version: string;
}

export class CriServer {
  private server?: grpc.Server;
  readonly store: CriStore;
  readonly images: CriImages;
  readonly runtime: CriRuntime;

  constructor(w: Warden, private readonly o: CriOptions) {
    this.store = new CriStore(path.join(w.paths.root, 'cri'));
    this.images = new CriImages(w, this.store, o.imageMirror);
    this.runtime = new CriRuntime(w, this.store, this.images);
  }

  /** Load the CRI state, take up what the tree still has, and listen on the socket (mode 0600). */
  async start(): Promise<void> {
    await this.store.load();
    await this.runtime.adopt();
    const def = await protoLoader.load(PROTO_FILE, LOADER_OPTIONS);
    const pkg = grpc.loadPackageDefinition(def) as unknown as { runtime: { v1: Record<string, { service: grpc.ServiceDefinition }> } };
    const server = new grpc.Server();
    const rt = this.runtime;
    const im = this.images;
    const s = (v: unknown): string => String(v ?? '');
    server.addService(pkg.runtime.v1.RuntimeService!.service, {
      Version: unary('Version', async () => ({ version: '0.1.0', runtime_name: 'wardenfs', runtime_version: this.o.version, runtime_api_version: CRI_API_VERSION })),
      Status: unary('Status', async () => ({
        status: { conditions: [{ type: 'RuntimeReady', status: true, reason: '', message: '' }, { type: 'NetworkReady', status: true, reason: '', message: '' }] },
        info: {},
      })),
      RunPodSandbox: unary('RunPodSandbox', async (r) => ({ pod_sandbox_id: await rt.runPodSandbox(r.config as Record<string, unknown> | null, s(r.runtime_handler)) })),
      StopPodSandbox: unary('StopPodSandbox', async (r) => { await rt.stopPodSandbox(s(r.pod_sandbox_id)); return {}; }),
      RemovePodSandbox: unary('RemovePodSandbox', async (r) => { await rt.removePodSandbox(s(r.pod_sandbox_id)); return {}; }),
      PodSandboxStatus: unary('PodSandboxStatus', async (r) => ({ status: rt.podStatus(s(r.pod_sandbox_id)), info: {} })),
      ListPodSandbox: unary('ListPodSandbox', async (r) => ({ items: rt.listPodSandbox(r.filter as Record<string, unknown> | null) })),
      CreateContainer: unary('CreateContainer', async (r) => ({ container_id: await rt.createContainer(s(r.pod_sandbox_id), r.config as Record<string, unknown> | null) })),
      StartContainer: unary('StartContainer', async (r) => { await rt.startContainer(s(r.container_id)); return {}; }),
      StopContainer: unary('StopContainer', async (r) => { await rt.stopContainer(s(r.container_id), Number(r.timeout ?? 0)); return {}; }),
      RemoveContainer: unary('RemoveContainer', async (r) => { await rt.removeContainer(s(r.container_id)); return {}; }),
      ListContainers: unary('ListContainers', async (r) => ({ containers: rt.listContainers(r.filter as Record<string, unknown> | null) })),
      ContainerStatus: unary('ContainerStatus', async (r) => ({ status: rt.containerStatus(s(r.container_id)), info: {} })),
      ExecSync: unary('ExecSync', async (r) => {
        const timeout = Number(r.timeout ?? 0);
        const out = await rt.execSync(s(r.container_id), (r.cmd ?? []) as string[], timeout);
        if (out.timedOut) throw new DeadlineExceeded(`command timed out after ${timeout}s`);
        return { stdout: out.stdout, stderr: out.stderr, exit_code: out.exit_code };
      }),
    });
    const spec = (r: Record<string, unknown>): string => s((r.image as { image?: string } | null)?.image);
    server.addService(pkg.runtime.v1.ImageService!.service, {
      ListImages: unary('ListImages', async (r) => {
        const want = s(((r.filter as { image?: { image?: string } } | null)?.image)?.image);
        if (want) {
          const one = await im.status(want);
          return { images: one ? [one] : [] };
        }
        return { images: await im.list() };
      }),
      ImageStatus: unary('ImageStatus', async (r) => {
        const img = await im.status(spec(r));
        return img ? { image: img, info: {} } : { info: {} };
      }),
      PullImage: unary('PullImage', async (r) => ({ image_ref: await im.pull(spec(r)) })),
      RemoveImage: unary('RemoveImage', async (r) => { await im.remove(spec(r)); return {}; }),
      ImageFsInfo: unary('ImageFsInfo', async () => {
        const f = await im.fsInfo();
        const usage = { timestamp: (BigInt(Date.now()) * 1_000_000n).toString(), fs_id: { mountpoint: f.mountpoint }, used_bytes: { value: String(f.used) }, inodes_used: { value: String(f.inodes) } };
        return { image_filesystems: [usage], container_filesystems: [] };
      }),
    });
    await this.clearStaleSocket();
    await fs.mkdir(path.dirname(this.o.socket), { recursive: true, mode: 0o755 });
    await new Promise<void>((resolve, reject) => {
      server.bindAsync(`unix:${this.o.socket}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(new BadRequest(`cannot serve CRI on ${this.o.socket}: ${e.message}`)) : resolve()));
    });
    // The socket is root's alone: whoever can talk to it can run anything as the pods do.
    await fs.chmod(this.o.socket, 0o600);
    this.server = server;
    log('serving CRI on %s', this.o.socket);
  }

  /** A socket left by a daemon that died is removed; anything else at that path is refused. */
  private async clearStaleSocket(): Promise<void> {
    const st = await fs.lstat(this.o.socket).catch((e: unknown) => {
      if (isErrno(e, 'ENOENT')) return undefined;
      throw e;
    });
    if (!st) return;
    if (!st.isSocket()) throw new BadRequest(`--cri-socket ${this.o.socket} exists and is not a socket`);
    await fs.rm(this.o.socket);
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    // Calls under way get a moment to finish; an ExecSync without a timeout may never: then they are cut.
    const force = setTimeout(() => server.forceShutdown(), 2000);
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    clearTimeout(force);
    await fs.rm(this.o.socket, { force: true });
    await this.runtime.close();
  }
}
