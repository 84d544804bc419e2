/**
 * Every command of `kiln`, in the order `kiln --help` lists them. Command modules import only the
 * framework at load time (their libraries are imported when they run), so startup stays fast.
 */
import type { Command, GroupSpec } from '../framework.js';
import { inspect } from './inspect.js';
import { modelsList, modelsPath } from './models.js';
import { importTfjs } from './import-tfjs.js';
import { compile } from './compile.js';
import { targetsList, targetsShow } from './targets.js';
import { verifyArtifact } from './verify-artifact.js';
import { agentInfer, agentStart, agentStatus, batch } from './agent.js';
import { bench } from './bench.js';
import { doctor } from './doctor.js';
import { cloudDevicesAdd, cloudDevicesList, cloudStart } from './cloud.js';
import { cloudModelsList, push } from './push.js';
import { deploy, deploymentsList, deploymentsPause, deploymentsPromote, deploymentsResume, deploymentsRollback, deploymentsShow } from './deploy.js';
import { apply, drift, plan } from './plan.js';
import { devicesList, devicesShow } from './devices.js';

export const commands: readonly Command[] = [
  compile,
  bench,
  inspect,
  verifyArtifact,
  targetsList,
  targetsShow,
  modelsList,
  modelsPath,
  importTfjs,
  agentStart,
  agentInfer,
  agentStatus,
  batch,
  doctor,
  cloudStart,
  cloudDevicesAdd,
  cloudDevicesList,
  cloudModelsList,
  push,
  deploy,
  deploymentsList,
  deploymentsShow,
  deploymentsPause,
  deploymentsResume,
  deploymentsPromote,
  deploymentsRollback,
  plan,
  apply,
  drift,
  devicesList,
  devicesShow,
];

export const groups: readonly GroupSpec[] = [
  {
    name: 'models',
    summary: 'the model zoo: list models, locate their files',
    description: 'Pretrained models that kiln knows, from models/catalog.json. Use them anywhere a model file is expected as zoo:NAME.',
  },
  { name: 'import', summary: 'convert models from other formats to ONNX' },
  {
    name: 'agent',
    summary: 'the edge agent: serve models offline over HTTP, run one inference, show its state',
    description:
      'Runs compiled artifacts on this device with no network needed: an Open Inference Protocol (KServe v2) HTTP API, hot swaps, metrics and an outbox for the cloud.',
  },
  {
    name: 'cloud',
    summary: 'the cloud side of sync: the device gateway and its registry',
    description: 'Runs the MQTT device gateway (embedded broker by default) and provisions and lists devices. See docs/sync.md.',
  },
  { name: 'cloud devices', summary: 'provision and list devices' },
  { name: 'cloud models', summary: 'the model registry: models, versions and per-target artifacts' },
  {
    name: 'deployments',
    summary: 'fleet deployments on the cloud: list, show, pause, resume, promote, roll back',
    description: 'Thin clients of the cloud API (kiln cloud start); start one with kiln deploy.',
  },
  {
    name: 'devices',
    summary: 'the fleet as the running cloud sees it: list devices, show one',
    description: 'Thin clients of the cloud API (kiln cloud start). See also kiln drift, and kiln cloud devices add to provision one.',
  },
  {
    name: 'targets',
    summary: 'hardware target profiles: list them, show one',
    description: 'One JSON profile per target in targets/. Pass a path to your own profile wherever a target name is expected.',
  },
];
