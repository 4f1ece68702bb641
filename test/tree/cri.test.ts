/**
 * The CRI face (docs/cri.md): a grpc-js client acting as kubelet on `--cri-socket`, and the
 * same objects checked in the tree and on the host. Images from an `--image-mirror` OCI
 * layout built here; pod and container life cycle, namespaces shared with the pod, ExecSync,
 * the container log in kubelet's format, idempotence, gRPC status codes, a daemon restart.
 */
import test from 'ava';
import { promises as fs, mkdtempSync, chmodSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { createHash } from 'node:crypto';
import { execa } from 'execa';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { Tree, PROJECT } from '../helpers/tree.js';
import { buildBusyboxRootfs } from '../../src/drivers/images/busybox.js';

const aux = mkdtempSync(path.join(os.tmpdir(), 'wfs-cri-aux-'));
chmodSync(aux, 0o711);
const SOCK = path.join(aux, 'cri.sock');
const MIRROR = path.join(aux, 'mirror');
const LOGS = path.join(aux, 'logs');
const tree = new Tree('cri', { args: ['--cri-socket', SOCK, '--image-mirror', MIRROR] });

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
let configDigest = '';
let manifestDigest = '';

/** The mirror's layout for docker.io/library/crimg:1.0: busybox-static, a Cmd that writes to both streams and sleeps. */
async function makeMirror(): Promise<void> {
  const root = path.join(aux, 'root');
  await buildBusyboxRootfs(root);
  const layer = (await execa('tar', ['-C', root, '-cf', '-', '.'], { encoding: 'buffer' })).stdout as unknown as Buffer;
  const config = Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux',
    config: { Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'FROM_IMAGE=yes'], Cmd: ['sh', '-c', 'echo hello-out; echo hello-err >&2; exec sleep 1000'] },
    rootfs: { type: 'layers', diff_ids: [`sha256:${sha(layer)}`] },
  }));
  const dir = path.join(MIRROR, 'docker.io', 'library', 'crimg:1.0');
  const blobs = path.join(dir, 'blobs', 'sha256');
  await fs.mkdir(blobs, { recursive: true });
  const put = async (b: Buffer): Promise<string> => {
    await fs.writeFile(path.join(blobs, sha(b)), b);
    return `sha256:${sha(b)}`;
  };
  configDigest = await put(config);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: await put(layer), size: layer.length }],
  }));
  manifestDigest = await put(manifest);
  await fs.writeFile(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ digest: manifestDigest, size: manifest.length }] }));
  await fs.writeFile(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
}

type Call = (req: Record<string, unknown>) => Promise<any>; // eslint-disable-line @typescript-eslint/no-explicit-any
let rt: Record<string, Call>;
let im: Record<string, Call>;
let clients: grpc.Client[] = [];

function connect(): void {
  const def = protoLoader.loadSync(path.join(PROJECT, 'proto', 'runtime-v1.proto'), { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
  const pkg = grpc.loadPackageDefinition(def) as any; // eslint-disable-line @typescript-eslint/no-explicit-any
  const wrap = (Ctor: any): Record<string, Call> => { // eslint-disable-line @typescript-eslint/no-explicit-any
    const client = new Ctor(`unix:${SOCK}`, grpc.credentials.createInsecure());
    clients.push(client);
    return new Proxy({}, {
      get: (_t, name: string) => (req: Record<string, unknown>) => new Promise((resolve, reject) => {
        client[name](req, { deadline: Date.now() + 60_000 }, (e: Error | null, r: unknown) => (e ? reject(e) : resolve(r)));
      }),
    });
  };
  rt = wrap(pkg.runtime.v1.RuntimeService);
  im = wrap(pkg.runtime.v1.ImageService);
}

function closeClients(): void {
  for (const c of clients) c.close();
  clients = [];
}

/** The gRPC status code of a failed call. */
async function codeOf(p: Promise<unknown>): Promise<number | string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return (e as grpc.ServiceError).code;
  }
}

const podConfig = (name: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  metadata: { name, namespace: 'default', uid: `uid-${name}`, attempt: 0 },
  hostname: name,
  log_directory: path.join(LOGS, name),
  labels: { 'app.kubernetes.io/name': name, tier: 'front', empty: '' },
  annotations: { note: 'has/a slash', plain: 'value' },
  ...extra,
});

test.before(async () => {
  await makeMirror();
  await tree.start();
  connect();
});

test.after.always(async () => {
  closeClients();
  await tree.cleanup();
  await fs.rm(aux, { recursive: true, force: true });
});

test('Version and Status answer as a CRI v1 runtime', async (t) => {
  const v = await rt.Version!({ version: '0.1.0' });
  t.is(v.runtime_name, 'wardenfs');
  t.is(v.runtime_api_version, 'v1');
  t.regex(v.runtime_version, /^\d+\.\d+\.\d+/);
  const s = await rt.Status!({});
  t.deepEqual(s.status.conditions.map((c: { type: string; status: boolean }) => [c.type, c.status]), [['RuntimeReady', true], ['NetworkReady', true]]);
});

test.serial('images: pulled from the mirror into the tree, the tree\'s own listed, unknown is NOT_FOUND', async (t) => {
  t.is(await codeOf(im.PullImage!({ image: { image: 'nosuch:1' } })), grpc.status.NOT_FOUND);
  t.is(await codeOf(im.PullImage!({ image: { image: 'Bad Ref' } })), grpc.status.INVALID_ARGUMENT);
  // Two pulls at once (kubelet may run them in parallel): one import, the same id.
  const [pulled, twin] = await Promise.all([im.PullImage!({ image: { image: 'crimg:1.0' } }), im.PullImage!({ image: { image: 'crimg:1.0' } })]);
  t.is(twin.image_ref, pulled.image_ref);
  t.is(pulled.image_ref, configDigest);
  // Pulled again (another spelling of the same reference): the same image, no second import.
  t.is((await im.PullImage!({ image: { image: 'docker.io/library/crimg:1.0' } })).image_ref, configDigest);
  const st = await im.ImageStatus!({ image: { image: 'crimg:1.0' } });
  t.is(st.image.id, configDigest);
  t.deepEqual(st.image.repo_tags, ['docker.io/library/crimg:1.0']);
  t.deepEqual(st.image.repo_digests, [`docker.io/library/crimg@${manifestDigest}`]);
  t.true(Number(st.image.size) > 100_000);
  // In the tree: one image directory for it, with the image's config.
  const names = await fs.readdir(tree.p('images'));
  const mine = names.filter((n) => n.startsWith('crimg-1.0-'));
  t.is(mine.length, 1);
  t.deepEqual(JSON.parse(await fs.readFile(tree.p('images', mine[0]!, 'config'), 'utf8')).Cmd, ['sh', '-c', 'echo hello-out; echo hello-err >&2; exec sleep 1000']);
  // The tree's own image, by its name and as Docker spells it.
  const own = await im.ImageStatus!({ image: { image: 'busybox' } });
  t.regex(own.image.id, /^sha256:[0-9a-f]{64}$/);
  t.is((await im.ImageStatus!({ image: { image: 'docker.io/library/busybox:latest' } })).image.id, own.image.id);
  t.is((await im.ImageStatus!({ image: { image: 'nosuch:2' } })).image, null);
  const list = await im.ListImages!({});
  t.deepEqual(list.images.map((i: { id: string }) => i.id).sort(), [configDigest, own.image.id].sort());
  const fsInfo = await im.ImageFsInfo!({});
  t.is(fsInfo.image_filesystems[0].fs_id.mountpoint, path.join(tree.state, 'images'));
  t.true(Number(fsInfo.image_filesystems[0].used_bytes.value) > 0);
});

/** The pid of a run, from the tree. */
async function pidOf(name: string, id: string): Promise<number> {
  return Number((await fs.readFile(tree.p('procs', name, id, 'pid'), 'utf8')).trim());
}

test.serial('a pod and its container: life cycle through CRI, seen in the tree and on the host', async (t) => {
  await im.PullImage!({ image: { image: 'crimg:1.0' } });
  const podId = (await rt.RunPodSandbox!({ config: podConfig('web') })).pod_sandbox_id as string;
  t.regex(podId, /^[0-9a-f]{64}$/);
  // The pod is a container of the tree, named POD-NAMESPACE, labels and annotations as properties.
  const props = (await fs.readFile(tree.p('containers', 'web-default', 'properties'), 'utf8')).trim().split('\n');
  t.true(props.includes('cri.kind=pod'));
  t.true(props.includes(`cri.id=${podId}`));
  t.true(props.includes('label.app.kubernetes.io:name=web'));
  t.true(props.includes('label.tier=front'));
  t.true(props.includes('annotation.plain=value'));
  t.false(props.some((p) => p.startsWith('annotation.note=') || p.startsWith('label.empty=')));
  t.deepEqual(await fs.readdir(tree.p('by-property', 'label.tier=front')), ['web-default']);
  const podStatus = await tree.status('web-default');
  const ps = (await rt.PodSandboxStatus!({ pod_sandbox_id: podId })).status;
  t.is(ps.state, 'SANDBOX_READY');
  t.is(ps.network.ip, podStatus.address!.replace(/\/\d+$/, ''));
  t.deepEqual(ps.labels, { 'app.kubernetes.io/name': 'web', tier: 'front', empty: '' });
  t.deepEqual(ps.annotations, { note: 'has/a slash', plain: 'value' });
  t.is((await rt.ListPodSandbox!({ filter: { label_selector: { tier: 'front' } } })).items.filter((p: { id: string }) => p.id === podId).length, 1);
  t.is((await rt.ListPodSandbox!({ filter: { label_selector: { tier: 'back' } } })).items.length, 0);

  const ctrId = (await rt.CreateContainer!({
    pod_sandbox_id: podId,
    config: {
      metadata: { name: 'app', attempt: 0 }, image: { image: 'crimg:1.0' }, envs: [{ key: 'FOO', value: 'bar' }], labels: { role: 'app' }, log_path: 'app/0.log',
      linux: { resources: { memory_limit_in_bytes: 64 * 1024 * 1024, cpu_quota: 50000, cpu_period: 100000, cpu_shares: 512 } },
    },
    sandbox_config: podConfig('web'),
  })).container_id as string;
  t.is((await rt.ContainerStatus!({ container_id: ctrId })).status.state, 'CONTAINER_CREATED');
  const cprops = (await fs.readFile(tree.p('containers', 'web-default-app', 'properties'), 'utf8')).trim().split('\n');
  t.true(cprops.includes('cri.pod=web-default'));
  t.true(cprops.includes('label.role=app'));
  t.regex((await tree.status('web-default-app')).image!, /^crimg-1\.0-/);
  // Its resources are the tree's limits, in its cgroup/ files.
  const cg = async (f: string): Promise<string> => (await fs.readFile(tree.p('containers', 'web-default-app', 'cgroup', f), 'utf8')).trim();
  t.is(await cg('memory.max'), String(64 * 1024 * 1024));
  t.is(await cg('cpu.max'), '50000 100000');
  t.is(await cg('cpu.weight'), '20');
  // The tree will not destroy a pod whose namespaces a container shares.
  const rmdir = await tree.sh('rmdir "$M/containers/web-default"');
  t.not(rmdir.exitCode, 0);
  t.regex(rmdir.stderr, /busy/i);

  await rt.StartContainer!({ container_id: ctrId });
  t.is((await rt.ContainerStatus!({ container_id: ctrId })).status.state, 'CONTAINER_RUNNING');
  t.is(await codeOf(rt.StartContainer!({ container_id: ctrId })), grpc.status.INVALID_ARGUMENT);
  t.is((await fs.readFile(tree.p('procs', 'web-default-app', 'main', 'status'), 'utf8')).trim(), 'running');
  // Network, IPC and UTS namespaces are the pod's; the pid namespace is its own.
  const mainPid = await pidOf('web-default-app', 'main');
  const podPid = Number(podStatus.pid);
  for (const ns of ['net', 'ipc', 'uts', 'user']) t.is(readlinkSync(`/proc/${mainPid}/ns/${ns}`), readlinkSync(`/proc/${podPid}/ns/${ns}`), ns);
  t.not(readlinkSync(`/proc/${mainPid}/ns/pid`), readlinkSync(`/proc/${podPid}/ns/pid`));
  t.not(readlinkSync(`/proc/${mainPid}/ns/mnt`), readlinkSync(`/proc/${podPid}/ns/mnt`));

  // ExecSync: output, exit code, the env given at create, the pod's hostname and address.
  const ex = await rt.ExecSync!({ container_id: ctrId, cmd: ['sh', '-c', 'echo $FOO $FROM_IMAGE; hostname; ip -4 -o addr show eth0; echo oops >&2; exit 3'], timeout: 10 });
  const lines = Buffer.from(ex.stdout).toString().split('\n');
  t.is(lines[0], 'bar yes');
  t.is(lines[1], 'web'); // the pod's hostname
  t.true(lines[2]!.includes(podStatus.address!), lines[2]);
  t.is(Buffer.from(ex.stderr).toString(), 'oops\n');
  t.is(ex.exit_code, 3);
  // The exec's run is forgotten: only main is left under procs/.
  t.deepEqual(await fs.readdir(tree.p('procs', 'web-default-app')), ['main']);
  t.is(await codeOf(rt.ExecSync!({ container_id: ctrId, cmd: ['sleep', '30'], timeout: 1 })), grpc.status.DEADLINE_EXCEEDED);

  // The log, in kubelet's format.
  const logFile = path.join(LOGS, 'web', 'app', '0.log');
  let log = '';
  for (let i = 0; i < 50 && !(log.includes('hello-out') && log.includes('hello-err')); i++) {
    await new Promise((r) => setTimeout(r, 100));
    log = await fs.readFile(logFile, 'utf8').catch(() => '');
  }
  t.regex(log, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z stdout F hello-out$/m);
  t.regex(log, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z stderr F hello-err$/m);

  // Stop: TERM (the sleep dies of it), EXITED with 128+15; stopping again succeeds.
  await rt.StopContainer!({ container_id: ctrId, timeout: 5 });
  const stopped = (await rt.ContainerStatus!({ container_id: ctrId })).status;
  t.is(stopped.state, 'CONTAINER_EXITED');
  t.is(stopped.exit_code, 143);
  t.true(BigInt(stopped.finished_at) >= BigInt(stopped.started_at));
  t.is((await fs.readFile(tree.p('procs', 'web-default-app', 'main', 'status'), 'utf8')).trim(), 'killed TERM');
  t.is(await codeOf(rt.StopContainer!({ container_id: ctrId, timeout: 0 })), 'ok');
  t.is((await rt.ListContainers!({ filter: { pod_sandbox_id: podId, state: { state: 'CONTAINER_EXITED' } } })).containers.length, 1);

  // Remove: gone from the tree; status NOT_FOUND; removing again succeeds.
  await rt.RemoveContainer!({ container_id: ctrId });
  t.false((await fs.readdir(tree.p('containers'))).includes('web-default-app'));
  t.is(await codeOf(rt.ContainerStatus!({ container_id: ctrId })), grpc.status.NOT_FOUND);
  t.is(await codeOf(rt.RemoveContainer!({ container_id: ctrId })), 'ok');

  await rt.StopPodSandbox!({ pod_sandbox_id: podId });
  t.is((await rt.PodSandboxStatus!({ pod_sandbox_id: podId })).status.state, 'SANDBOX_NOTREADY');
  t.is(await codeOf(rt.StopPodSandbox!({ pod_sandbox_id: podId })), 'ok');
  t.is(await codeOf(rt.CreateContainer!({ pod_sandbox_id: podId, config: { metadata: { name: 'late' }, image: { image: 'crimg:1.0' } } })), grpc.status.INVALID_ARGUMENT);
  await rt.RemovePodSandbox!({ pod_sandbox_id: podId });
  t.false((await fs.readdir(tree.p('containers'))).includes('web-default'));
  t.is(await codeOf(rt.PodSandboxStatus!({ pod_sandbox_id: podId })), grpc.status.NOT_FOUND);
  t.is(await codeOf(rt.RemovePodSandbox!({ pod_sandbox_id: podId })), 'ok');
  t.is(await codeOf(rt.StopPodSandbox!({ pod_sandbox_id: podId })), 'ok');
});

test.serial('bad requests are gRPC errors and change nothing', async (t) => {
  const before = await fs.readdir(tree.p('containers'));
  t.is(await codeOf(rt.RunPodSandbox!({ config: { metadata: { name: 'x' } } })), grpc.status.INVALID_ARGUMENT);
  t.is(await codeOf(rt.RunPodSandbox!({ config: podConfig('hh'), runtime_handler: 'kata' })), grpc.status.INVALID_ARGUMENT);
  t.is(await codeOf(rt.RunPodSandbox!({ config: podConfig('hh', { hostname: 'no_such host' }) })), grpc.status.INVALID_ARGUMENT);
  t.is(await codeOf(rt.RunPodSandbox!({ config: podConfig('hh', { port_mappings: [{ protocol: 'SCTP', container_port: 80, host_port: 8080 }] }) })), grpc.status.INVALID_ARGUMENT);
  t.is(await codeOf(rt.CreateContainer!({ pod_sandbox_id: 'f'.repeat(64), config: { metadata: { name: 'a' }, image: { image: 'busybox' } } })), grpc.status.NOT_FOUND);
  t.is(await codeOf(rt.StartContainer!({ container_id: 'e'.repeat(64) })), grpc.status.NOT_FOUND);
  t.is(await codeOf(rt.ContainerStatus!({ container_id: 'e'.repeat(64) })), grpc.status.NOT_FOUND);
  t.is(await codeOf(rt.ExecSync!({ container_id: 'e'.repeat(64), cmd: ['true'] })), grpc.status.NOT_FOUND);
  t.is(await codeOf(rt.RunPodSandbox!({ config: podConfig('hh', { port_mappings: [{ protocol: 'TCP', container_port: 80, host_port: 70000 }] }) })), grpc.status.INVALID_ARGUMENT);
  t.deepEqual(await fs.readdir(tree.p('containers')), before);
  // An image that is not pulled: NOT_FOUND, and the pod is left as it was.
  const podId = (await rt.RunPodSandbox!({ config: podConfig('bad') })).pod_sandbox_id as string;
  t.is(await codeOf(rt.CreateContainer!({ pod_sandbox_id: podId, config: { metadata: { name: 'a' }, image: { image: 'notpulled:3' } } })), grpc.status.NOT_FOUND);
  t.is(await codeOf(rt.CreateContainer!({ pod_sandbox_id: podId, config: { metadata: { name: 'a' }, image: { image: 'busybox' }, linux: { resources: { cpu_quota: 10 } } } })), grpc.status.INVALID_ARGUMENT);
  t.is(await codeOf(rt.CreateContainer!({ pod_sandbox_id: podId, config: { metadata: { name: 'a' }, image: { image: 'busybox' }, envs: [{ key: 'A=B', value: 'c' }] } })), grpc.status.INVALID_ARGUMENT);
  t.deepEqual((await rt.ListContainers!({ filter: { pod_sandbox_id: podId } })).containers, []);
  t.is(await codeOf(rt.RunPodSandbox!({ config: podConfig('bad') })), grpc.status.FAILED_PRECONDITION);
  await rt.RemovePodSandbox!({ pod_sandbox_id: podId });
  t.deepEqual(await fs.readdir(tree.p('containers')), before);
});

test.serial('a daemon restart keeps ids, metadata, labels, annotations and states', async (t) => {
  // A hostPort is a forward of the pod's container (net/ports).
  const hostPort = 30000 + Math.floor(Math.random() * 20000);
  const podId = (await rt.RunPodSandbox!({ config: podConfig('kept', { port_mappings: [{ protocol: 'TCP', container_port: 80, host_port: hostPort }, { protocol: 'TCP', container_port: 81, host_port: 0 }] }) })).pod_sandbox_id as string;
  t.is((await fs.readFile(tree.p('containers', 'kept-default', 'net', 'ports'), 'utf8')).trim(), `${hostPort}:80/tcp`);
  const ctrId = (await rt.CreateContainer!({
    pod_sandbox_id: podId,
    config: {
      metadata: { name: 'c', attempt: 2 }, image: { image: 'busybox' }, command: ['sh', '-c'], args: ['echo before; sleep 2; echo after; exec sleep 1000'],
      annotations: { 'a.b/c': 'd' }, log_path: 'c/2.log',
    },
  })).container_id as string;
  await rt.StartContainer!({ container_id: ctrId });
  const pod = (await rt.PodSandboxStatus!({ pod_sandbox_id: podId })).status;
  const ctr = (await rt.ContainerStatus!({ container_id: ctrId })).status;
  t.is(ctr.state, 'CONTAINER_RUNNING');
  t.true((await fs.readdir(tree.p('containers'))).includes('kept-default-c.2'));
  const logFile = path.join(LOGS, 'kept', 'c', '2.log');
  const logHas = async (word: string): Promise<string> => {
    let text = '';
    for (let i = 0; i < 100 && !text.includes(word); i++) {
      await new Promise((r) => setTimeout(r, 100));
      text = await fs.readFile(logFile, 'utf8').catch(() => '');
    }
    return text;
  };
  await logHas('before');

  closeClients();
  t.is(await tree.stop(), 0);
  await tree.start();
  connect();

  t.deepEqual((await rt.PodSandboxStatus!({ pod_sandbox_id: podId })).status, pod);
  const after = (await rt.ContainerStatus!({ container_id: ctrId })).status;
  t.deepEqual(after, ctr);
  t.deepEqual(after.annotations, { 'a.b/c': 'd' });
  // The log goes on where it was: what was written before the restart is not written again.
  const log = await logHas('after');
  t.deepEqual(log.split('\n').filter(Boolean).map((l) => l.replace(/^\S+ /, '')), ['stdout F before', 'stdout F after']);
  // Still running in the pod's namespaces, and still stoppable with its exit recorded.
  await rt.StopContainer!({ container_id: ctrId, timeout: 0 });
  const stopped = (await rt.ContainerStatus!({ container_id: ctrId })).status;
  t.is(stopped.state, 'CONTAINER_EXITED');
  t.is(stopped.exit_code, 137);
  await rt.RemovePodSandbox!({ pod_sandbox_id: podId });
  t.false((await fs.readdir(tree.p('containers'))).some((n) => n.startsWith('kept-default')));
  t.is(await codeOf(rt.ContainerStatus!({ container_id: ctrId })), grpc.status.NOT_FOUND);
});

test.serial('a daemon killed outright: its stale socket is replaced; a pod destroyed through the tree is forgotten', async (t) => {
  const podId = (await rt.RunPodSandbox!({ config: podConfig('gone') })).pod_sandbox_id as string;
  t.is((await tree.sh('rmdir "$M/containers/gone-default"')).exitCode, 0);
  t.is((await rt.PodSandboxStatus!({ pod_sandbox_id: podId })).status.state, 'SANDBOX_NOTREADY', 'its container is gone');
  t.is((await fs.stat(SOCK)).mode & 0o777, 0o600, 'root\'s alone');

  closeClients();
  await tree.stop('SIGKILL');
  t.true((await fs.lstat(SOCK)).isSocket(), 'left behind');
  await tree.start();
  connect();
  t.is((await rt.Version!({})).runtime_name, 'wardenfs');
  t.is(await codeOf(rt.PodSandboxStatus!({ pod_sandbox_id: podId })), grpc.status.NOT_FOUND);
  t.false((await rt.ListPodSandbox!({})).items.some((p: { id: string }) => p.id === podId));
});
