/**
 * The sync contract between the cloud and the agent over MQTT: topics under a versioned prefix per
 * device, a zod schema for every payload, and `parseMessage`, which never throws on hostile input
 * (it returns a tagged error the caller counts and drops). Pure: no sockets here.
 *
 *   kiln/v1/devices/{id}/desired        cloud → device  retained, QoS 1   DesiredState
 *   kiln/v1/devices/{id}/reported       device → cloud  retained, QoS 1   ReportedState
 *   kiln/v1/devices/{id}/telemetry      device → cloud  QoS 1             TelemetryBatch
 *   kiln/v1/devices/{id}/telemetry/ack  cloud → device  QoS 1             TelemetryAck
 *   kiln/v1/devices/{id}/presence       device → cloud  retained, QoS 1   Presence (offline = Last Will)
 *
 * Telemetry is acknowledged by application-level record ids (not by MQTT PUBACK): the device deletes
 * a record only once the cloud has stored it, and the cloud de-duplicates on (device, record id), so
 * counts are exact across broker outages, restarts and duplicated QoS 1 deliveries.
 */
import { z } from 'zod';

/** Version of the topic layout and payloads; in every topic and every payload (`v`). */
export const SYNC_PROTOCOL_VERSION = 1;
/** Every kiln topic starts here. */
export const SYNC_TOPIC_ROOT = `kiln/v${SYNC_PROTOCOL_VERSION}/devices`;
/** Largest payload either side accepts, bytes (larger ones are dropped and counted). */
export const MAX_PAYLOAD_BYTES = 256 * 1024;
/** Most records in one telemetry batch (and ids in one ack). */
export const MAX_TELEMETRY_BATCH = 500;

/** Device ids: safe in a topic level, a file name and an MQTT client id. */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const isDeviceId = (id: unknown): id is string => typeof id === 'string' && DEVICE_ID_PATTERN.test(id);

export const SYNC_KINDS = ['desired', 'reported', 'telemetry', 'telemetry/ack', 'presence'] as const;
export type SyncKind = (typeof SYNC_KINDS)[number];

export interface DeviceTopics {
  desired: string;
  reported: string;
  telemetry: string;
  telemetryAck: string;
  presence: string;
}

/** The topics of one device. Throws RangeError for an id that is not a valid device id. */
export function deviceTopics(deviceId: string): DeviceTopics {
  if (!isDeviceId(deviceId))
    throw new RangeError(`device id '${String(deviceId)}' is invalid: use 1–64 of A-Z a-z 0-9 . _ - (starting with a letter or digit)`);
  const base = `${SYNC_TOPIC_ROOT}/${deviceId}`;
  return {
    desired: `${base}/desired`,
    reported: `${base}/reported`,
    telemetry: `${base}/telemetry`,
    telemetryAck: `${base}/telemetry/ack`,
    presence: `${base}/presence`,
  };
}

/** Topic filters (for a privileged cloud subscriber) matching every device's messages of a kind. */
export const allDevicesFilter = (kind: SyncKind): string => `${SYNC_TOPIC_ROOT}/+/${kind}`;

/** Split a topic into device id and kind; undefined when it is not a kiln sync topic. */
export function parseTopic(topic: string): { deviceId: string; kind: SyncKind } | undefined {
  if (typeof topic !== 'string' || !topic.startsWith(`${SYNC_TOPIC_ROOT}/`)) return undefined;
  const rest = topic.slice(SYNC_TOPIC_ROOT.length + 1);
  const slash = rest.indexOf('/');
  if (slash <= 0) return undefined;
  const deviceId = rest.slice(0, slash);
  const kind = rest.slice(slash + 1);
  if (!isDeviceId(deviceId) || !(SYNC_KINDS as readonly string[]).includes(kind)) return undefined;
  return { deviceId, kind: kind as SyncKind };
}

// ───────────── payloads ─────────────

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a lower-case hex sha256');
const Name = z.string().min(1).max(128);
const Version = z.string().min(1).max(128);
const Iso = z.string().min(1).max(64);
const V = z.literal(SYNC_PROTOCOL_VERSION);

/** Where an artifact is and how to check it before install. */
export const ArtifactRefSchema = z
  .object({
    /** http(s) URL of the artifact's .tgz. */
    url: z
      .string()
      .url()
      .refine((u) => /^https?:\/\//i.test(u), 'an http:// or https:// URL'),
    /** sha256 of the .tgz bytes. */
    sha256: Sha256,
    /** Size of the .tgz, bytes (checked while downloading when given). */
    sizeBytes: z.number().int().positive().optional(),
    /** The key that must have signed the artifact's manifest (ed25519; the agent must also trust it). */
    signature: z.object({ algorithm: z.literal('ed25519'), keyId: z.string().regex(/^[0-9a-f]{16}$/, '16 hex chars') }).strict(),
  })
  .strict();
export type ArtifactRef = z.infer<typeof ArtifactRefSchema>;

export const DesiredModelSchema = z
  .object({
    version: Version,
    artifact: ArtifactRefSchema,
    /** A/B weights between versions the device keeps (version → weight). */
    weights: z.record(Version, z.number().nonnegative()).optional(),
    /** A kept version that gets a copy of every request, for comparison only. */
    shadowVersion: Version.optional(),
    /** Where to get `shadowVersion` when the device does not keep it yet: installed beside, serving nothing. */
    shadowArtifact: ArtifactRefSchema.optional(),
  })
  .strict();
export type DesiredModel = z.infer<typeof DesiredModelSchema>;

/** What the cloud wants a device to run. Retained: a device that was offline reads it on reconnect. */
export const DesiredStateSchema = z
  .object({
    v: V,
    /** The shadow document's version: increases with every write; reports echo the one they converge to. */
    version: z.number().int().nonnegative(),
    models: z.record(Name, DesiredModelSchema),
    updatedAt: Iso,
  })
  .strict();
export type DesiredState = z.infer<typeof DesiredStateSchema>;

export const MODEL_SYNC_STATUSES = ['downloading', 'verifying', 'probation', 'current', 'failed'] as const;
export type ModelSyncStatus = (typeof MODEL_SYNC_STATUSES)[number];

export const ReportedModelSchema = z
  .object({
    status: z.enum(MODEL_SYNC_STATUSES),
    /** The desired version this status is about. */
    version: Version,
    /** The version serving now (may differ while a new one downloads, or after a failure). */
    serving: Version.optional(),
    /** Why it failed (status 'failed'). */
    reason: z.string().max(2000).optional(),
    /** Bytes downloaded so far (status 'downloading'). */
    bytes: z.number().int().nonnegative().optional(),
    /** The shadow variant's install, while the desired state names a `shadowVersion`. */
    shadow: z
      .object({ version: Version, status: z.enum(MODEL_SYNC_STATUSES), reason: z.string().max(2000).optional() })
      .strict()
      .optional(),
  })
  .strict();
export type ReportedModel = z.infer<typeof ReportedModelSchema>;

/** What a device runs, per model. */
export const ReportedStateSchema = z
  .object({
    v: V,
    /** The desired-state version the device is working on (null before it ever got one). */
    desiredVersion: z.number().int().nonnegative().nullable(),
    models: z.record(Name, ReportedModelSchema),
    /** The device's target profile (from `kiln doctor`), when it knows it. */
    target: z.string().max(128).optional(),
    at: Iso,
  })
  .strict();
export type ReportedState = z.infer<typeof ReportedStateSchema>;

/**
 * Buckets of the output histogram in 'metrics.minute' telemetry (`top1`): the top-1 class (argmax along
 * the last axis) of each row of a model's first output, binned as `floor(class × B / max(classes, B))`,
 * so a model with at most B classes has one bucket per class. The same on every device.
 */
export const OUTPUT_HISTOGRAM_BUCKETS = 32;

/** The histogram bucket of a top-1 class of an output `classes` wide. */
export const outputBucket = (cls: number, classes: number): number =>
  Math.min(OUTPUT_HISTOGRAM_BUCKETS - 1, Math.floor((cls * OUTPUT_HISTOGRAM_BUCKETS) / Math.max(classes, OUTPUT_HISTOGRAM_BUCKETS)));

export const TelemetryRecordSchema = z
  .object({
    /** Application-level id (the outbox row's UUID): the cloud de-duplicates on it. */
    id: z
      .string()
      .min(8)
      .max(64)
      .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and -'),
    kind: z.string().min(1).max(64),
    createdAt: Iso,
    payload: z.unknown(),
  })
  .strict();
export type TelemetryRecord = z.infer<typeof TelemetryRecordSchema>;

export const TelemetryBatchSchema = z.object({ v: V, records: z.array(TelemetryRecordSchema).min(1).max(MAX_TELEMETRY_BATCH) }).strict();
export type TelemetryBatch = z.infer<typeof TelemetryBatchSchema>;

/** The cloud has stored these records (or had them already): the device may delete them. */
export const TelemetryAckSchema = z.object({ v: V, ids: z.array(TelemetryRecordSchema.shape.id).max(MAX_TELEMETRY_BATCH) }).strict();
export type TelemetryAck = z.infer<typeof TelemetryAckSchema>;

/** Online (retained, published on connect) or offline (the Last Will, or a clean goodbye). */
export const PresenceSchema = z.object({ v: V, state: z.enum(['online', 'offline']), at: Iso.optional() }).strict();
export type Presence = z.infer<typeof PresenceSchema>;

export interface SyncPayloads {
  desired: DesiredState;
  reported: ReportedState;
  telemetry: TelemetryBatch;
  'telemetry/ack': TelemetryAck;
  presence: Presence;
}

export const SYNC_SCHEMAS: { readonly [K in SyncKind]: z.ZodType<SyncPayloads[K]> } = Object.freeze({
  desired: DesiredStateSchema,
  reported: ReportedStateSchema,
  telemetry: TelemetryBatchSchema,
  'telemetry/ack': TelemetryAckSchema,
  presence: PresenceSchema,
});

/** A parsed message, tagged by kind. */
export type SyncMessage = { [K in SyncKind]: { kind: K; deviceId: string; payload: SyncPayloads[K] } }[SyncKind];

export type SyncParseErrorCode = 'bad-topic' | 'too-large' | 'bad-json' | 'bad-schema' | 'bad-version';
export type ParseResult = { ok: true; message: SyncMessage } | { ok: false; code: SyncParseErrorCode; error: string; deviceId?: string; kind?: SyncKind };

/** Parse and validate a message. Never throws: bad input gives `{ok: false, code, error}`. */
export function parseMessage(topic: string, bytes: Uint8Array | string, maxBytes = MAX_PAYLOAD_BYTES): ParseResult {
  const t = parseTopic(topic);
  if (!t)
    return {
      ok: false,
      code: 'bad-topic',
      error: `'${String(topic).slice(0, 200)}' is not a kiln sync topic (${SYNC_TOPIC_ROOT}/{deviceId}/{${SYNC_KINDS.join('|')}})`,
    };
  const size = typeof bytes === 'string' ? Buffer.byteLength(bytes) : (bytes?.byteLength ?? 0);
  if (size > maxBytes) return { ok: false, code: 'too-large', error: `payload of ${size} bytes is over the ${maxBytes}-byte limit`, ...t };
  let data: unknown;
  try {
    data = JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch (err) {
    return { ok: false, code: 'bad-json', error: `payload is not JSON: ${(err as Error).message}`, ...t };
  }
  if (data && typeof data === 'object' && 'v' in data && (data as { v: unknown }).v !== SYNC_PROTOCOL_VERSION) {
    return { ok: false, code: 'bad-version', error: `payload version ${JSON.stringify((data as { v: unknown }).v)} is not ${SYNC_PROTOCOL_VERSION}`, ...t };
  }
  const r = SYNC_SCHEMAS[t.kind].safeParse(data);
  if (!r.success) {
    const problems = r.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`);
    return { ok: false, code: 'bad-schema', error: `${t.kind} payload is invalid: ${problems.join('; ')}`, ...t };
  }
  return { ok: true, message: { kind: t.kind, deviceId: t.deviceId, payload: r.data } as SyncMessage };
}

/** Serialize a payload after checking it against its schema (throws TypeError on a bad one: a programming error). */
export function encodeMessage<K extends SyncKind>(kind: K, payload: SyncPayloads[K]): Buffer {
  const r = SYNC_SCHEMAS[kind].safeParse(payload);
  if (!r.success) throw new TypeError(`encodeMessage: invalid ${kind} payload: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const buf = Buffer.from(JSON.stringify(r.data));
  if (buf.byteLength > MAX_PAYLOAD_BYTES) throw new RangeError(`encodeMessage: ${kind} payload of ${buf.byteLength} bytes is over ${MAX_PAYLOAD_BYTES}`);
  return buf;
}
