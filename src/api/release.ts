// Signed releases of the agent and staged rollouts (issue 9 items 4-5): the release manifest and
// its signature, the target a node's desired document carries, the update status a node
// reports, and the rollout objects the controller keeps and serves.
import { z } from 'zod';
import { isVersion } from '../lib/semver.js';
import { NodeNameSchema } from './meta.js';

export const RELEASE_ARCHES = ['arm64', 'armhf', 'amd64'] as const;
export const ReleaseArchSchema = z.enum(RELEASE_ARCHES);
export type ReleaseArch = z.infer<typeof ReleaseArchSchema>;

/** The release architecture of the machine this runs on (Node's process.arch). */
export function hostReleaseArch(arch: string = process.arch): ReleaseArch | undefined {
  return arch === 'arm64' ? 'arm64' : arch === 'arm' ? 'armhf' : arch === 'x64' ? 'amd64' : undefined;
}

export const VersionSchema = z.string().refine(isVersion, { error: 'expected a version MAJOR.MINOR.PATCH[-pre]' });

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, { error: 'expected 64 lower-case hex digits' });

/** What a release is; the signature covers its canonical JSON (sorted keys, no spaces). */
export const ReleaseManifestSchema = z.strictObject({
  version: VersionSchema,
  arch: ReleaseArchSchema,
  /** A box must run at least this version to take the release (older ones need an intermediate release). */
  minVersion: VersionSchema.optional(),
  bundle: z.strictObject({
    /** File name of the bundle (tar.gz of the agent tree). */
    file: z.string().regex(/^[A-Za-z0-9._+-]{1,200}$/, { error: 'expected a plain file name' }),
    size: z.number().int().positive(),
    sha256: sha256Hex,
  }),
  /** ISO 8601 time the release was built. */
  created: z.iso.datetime(),
  /**
   * RFC 3339 time after which boxes refuse the release and the controller will not roll it out
   * (signed with the rest: an old signed release cannot be replayed for ever). Absent: no expiry.
   */
  notAfter: z.iso.datetime({ offset: true }).optional(),
});
export type ReleaseManifest = z.infer<typeof ReleaseManifestSchema>;

export const ReleaseSignatureSchema = z.strictObject({
  algorithm: z.literal('ed25519'),
  /** First 16 hex digits of the sha256 of the public key (DER): which key signed. */
  keyId: z.string().regex(/^[0-9a-f]{16}$/, { error: 'expected 16 lower-case hex digits' }),
  /** base64 of the 64-byte ed25519 signature over canonicalJson(manifest). */
  value: z.string().regex(/^[A-Za-z0-9+/]{86}==$/, { error: 'expected a base64 ed25519 signature (88 characters)' }),
});
export type ReleaseSignature = z.infer<typeof ReleaseSignatureSchema>;

/** The `.manifest.json` file: the manifest and its embedded signature (absent: unsigned, refused everywhere it matters). */
export const SignedManifestSchema = z.strictObject({
  manifest: ReleaseManifestSchema,
  signature: ReleaseSignatureSchema.optional(),
});
export type SignedManifest = z.infer<typeof SignedManifestSchema>;

/** What a node's desired document says to run: the rollout asking and the signed manifest for the node's architecture. */
export const ReleaseTargetSchema = z.strictObject({
  rollout: z.string().min(1),
  release: SignedManifestSchema,
});
export type ReleaseTarget = z.infer<typeof ReleaseTargetSchema>;

export const UPDATE_STATES = ['idle', 'downloading', 'installing', 'restarting', 'confirming', 'committed', 'refused', 'rolledBack'] as const;
export const UpdateStateSchema = z.enum(UPDATE_STATES);
export type UpdateState = z.infer<typeof UpdateStateSchema>;

/** The updater's part of a node's report. */
export const UpdateStatusSchema = z.strictObject({
  arch: ReleaseArchSchema,
  /** The version running now. */
  running: VersionSchema,
  state: UpdateStateSchema,
  /** The version the state is about (the target being installed, committed, refused or rolled back). */
  target: VersionSchema.optional(),
  rollout: z.string().optional(),
  /** Why a release was refused or rolled back. */
  reason: z.string().optional(),
  /** Versions kept on disk besides the running one, newest first. */
  previous: z.array(VersionSchema).default([]),
  /** Milliseconds since the epoch of the last state change. */
  ts: z.number().int().nonnegative(),
});
export type UpdateStatus = z.infer<typeof UpdateStatusSchema>;

/**
 * The updater's files, read by the next version of the agent (a boundary between versions):
 * `pending.json`, a switch waiting for the new version's health confirmation, and
 * `outcome.json`, the last update's result.
 */
export const PendingSwitchSchema = z.strictObject({
  from: VersionSchema,
  to: VersionSchema,
  rollout: z.string().optional(),
  switchedAt: z.number().int(),
  deadline: z.number().int(),
  /** Starts of the new version so far (a version that keeps crashing is rolled back). */
  boots: z.number().int().nonnegative().default(0),
  /** Set when the new version gave up: the previous one reports it after the switch back. */
  failure: z.string().optional(),
  /** manifestDigest() of the release switched to: a rollback is refused per digest, like any refusal. */
  digest: z.string().optional(),
});
export type PendingSwitch = z.infer<typeof PendingSwitchSchema>;

export const OutcomeSchema = z.strictObject({
  state: UpdateStateSchema,
  target: VersionSchema.optional(),
  rollout: z.string().optional(),
  reason: z.string().optional(),
  ts: z.number().int(),
});
export type Outcome = z.infer<typeof OutcomeSchema>;

/**
 * `refused.json`: manifest digest (manifestDigest(): sha256 of the signed manifest's canonical
 * JSON) → why it was refused or rolled back on this box. That manifest is never tried again; a
 * corrected upload of the same version (new bundle or new signature: a new digest) is.
 */
export const RefusedManifestsSchema = z.record(z.string(), z.string());

/** A release the controller stores (one per version and architecture). */
export const StoredReleaseSchema = z.strictObject({
  version: VersionSchema,
  arch: ReleaseArchSchema,
  size: z.number().int().positive(),
  sha256: sha256Hex,
  keyId: z.string(),
  created: z.string(),
  /** The manifest's notAfter, when it has one. */
  notAfter: z.string().optional(),
  uploaded: z.string(),
});
export type StoredRelease = z.infer<typeof StoredReleaseSchema>;

const percent = z.number().gt(0, { error: 'expected a percentage above 0' }).max(100, { error: 'expected at most 100' });
export const RolloutNameSchema = z.string().regex(/^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$/, { error: 'expected a DNS-1123 label (a-z 0-9 - .)' });

/** `POST /api/v1/rollouts`. Waves are cumulative shares of the fleet; the last must be 100. */
export const RolloutCreateSchema = z
  .strictObject({
    name: RolloutNameSchema.optional(),
    /** The release version (every architecture the fleet runs must be uploaded). */
    release: VersionSchema,
    canaryPercent: percent,
    wavePercents: z.array(percent).min(1),
    /** Pause when this many boxes failed (refused or rolled back). */
    maxFailures: z.number().int().min(1).default(1),
  })
  .superRefine((r, ctx) => {
    const all = [r.canaryPercent, ...r.wavePercents];
    for (let i = 1; i < all.length; i++) {
      if (all[i]! < all[i - 1]!) ctx.addIssue({ code: 'custom', path: ['wavePercents', i - 1], message: 'waves are cumulative: each share must be at least the previous one' });
    }
    if (r.wavePercents.at(-1) !== 100) ctx.addIssue({ code: 'custom', path: ['wavePercents', r.wavePercents.length - 1], message: 'the last wave must be 100 (the whole fleet)' });
  });
export type RolloutCreate = z.input<typeof RolloutCreateSchema>;

export const ROLLOUT_PHASES = ['Running', 'Paused', 'Completed', 'Aborted'] as const;
export const RolloutNodeStateSchema = z.enum(['pending', 'updating', 'healthy', 'failed']);

export const RolloutNodeSchema = z.strictObject({
  wave: z.number().int().nonnegative(),
  state: RolloutNodeStateSchema,
  /** The node's version and updater state as last reported. */
  version: z.string().optional(),
  updateState: UpdateStateSchema.optional(),
  reason: z.string().optional(),
  /** A failure the operator accepted by resuming: it no longer holds the wave or counts toward maxFailures. */
  acknowledged: z.boolean().optional(),
});
export type RolloutNode = z.infer<typeof RolloutNodeSchema>;

export const RolloutSchema = z.strictObject({
  name: RolloutNameSchema,
  release: VersionSchema,
  canaryPercent: z.number(),
  wavePercents: z.array(z.number()),
  maxFailures: z.number().int(),
  phase: z.enum(ROLLOUT_PHASES),
  /** Index of the wave being rolled out (0: the canary). */
  wave: z.number().int().nonnegative(),
  /** The nodes of each wave (0: the canary), fixed when the rollout was created. */
  waves: z.array(z.array(NodeNameSchema)),
  nodes: z.record(z.string(), RolloutNodeSchema),
  /** Why it is paused, aborted or completed. */
  reason: z.string().optional(),
  created: z.string(),
  updated: z.string(),
});
export type Rollout = z.infer<typeof RolloutSchema>;

/**
 * `fields` of a `rollout` event in the controller's event stream (GET /api/v1/events?type=rollout):
 * a phase change, a wave starting (no `node`), or one node's update outcome (`node`, `state`).
 */
export const RolloutEventFieldsSchema = z.strictObject({
  rollout: RolloutNameSchema,
  release: VersionSchema,
  phase: z.enum(ROLLOUT_PHASES),
  wave: z.number().int().nonnegative(),
  /** The node whose update finished (healthy) or failed (refused, rolled back, no release for its arch). */
  node: NodeNameSchema.optional(),
  state: RolloutNodeStateSchema.optional(),
  updateState: UpdateStateSchema.optional(),
  reason: z.string().optional(),
});
export type RolloutEventFields = z.infer<typeof RolloutEventFieldsSchema>;

export const RolloutActionSchema = z.strictObject({ action: z.enum(['pause', 'resume', 'abort']) });
