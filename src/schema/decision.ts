import { GraphQLError } from 'graphql';
import { payerOf } from '../core/budget.ts';
import { knownFeatures } from '../didit/features.ts';
import type * as Model from '../domain/model.ts';
import type { GatewayContext } from '../core/context.ts';
import { builder } from './builder.ts';
import { CheckStatus, SessionStatus, VerificationFeature, toCheckStatus, toSessionStatus } from './enums.ts';
import { asDate, asDateTime, asUrl } from './scalars.ts';

/**
 * Didit's decision, mapped plainly from the gateway's model (`domain/model.ts`): the adapters
 * have checked every value's type already. What stays here is the edge: a status Didit adds later
 * is UNKNOWN (logged), URLs and dates are checked as their scalars, and who may see what.
 */

export const warnOf = (ctx: GatewayContext) => (message: string, details: Record<string, unknown>) =>
  ctx.services.log.warn(details, message);

/** Reviewer-only parts of a decision: null (or empty) for everyone else. */
export const forReviewers = <T>(ctx: GatewayContext, value: T, otherwise: T): T => (ctx.caller?.reviewer ? value : otherwise);

export const Kyc = builder.objectRef<Model.IdVerification>('Kyc');
Kyc.implement({
  description: 'Identity document data read by OCR (and NFC).',
  fields: (t) => {
    type K = Model.IdVerification;
    const s = (key: { [P in keyof K]: K[P] extends string | null ? P : never }[keyof K]) => t.exposeString(key, { nullable: true });
    const url = (key: keyof K) => t.field({ type: 'URL', resolve: (k) => asUrl(k[key]) });
    const date = (key: keyof K) => t.field({ type: 'Date', resolve: (k) => asDate(k[key]) });
    const check = (key: 'status' | 'ocrStatus' | 'epassportStatus') =>
      t.field({ type: CheckStatus, resolve: (k, _, ctx) => toCheckStatus(k[key], warnOf(ctx)) });
    return {
      nodeId: t.exposeString('nodeId', { nullable: true, description: 'v3: the workflow step this came from (null in v1).' }),
      status: check('status'),
      ocrStatus: check('ocrStatus'),
      epassportStatus: check('epassportStatus'),
      documentType: s('documentType'),
      documentNumber: s('documentNumber'),
      personalNumber: s('personalNumber'),
      portraitImage: url('portraitImage'),
      frontImage: url('frontImage'),
      frontVideo: url('frontVideo'),
      backImage: url('backImage'),
      backVideo: url('backVideo'),
      fullFrontImage: url('fullFrontImage'),
      fullBackImage: url('fullBackImage'),
      dateOfBirth: date('dateOfBirth'),
      expirationDate: date('expirationDate'),
      dateOfIssue: date('dateOfIssue'),
      issuingState: s('issuingState'),
      issuingStateName: s('issuingStateName'),
      firstName: s('firstName'),
      lastName: s('lastName'),
      fullName: s('fullName'),
      gender: s('gender'),
      address: s('address'),
      formattedAddress: s('formattedAddress'),
      isNfcVerified: t.exposeBoolean('isNfcVerified', { nullable: true }),
      parsedAddress: t.field({ type: 'JSON', resolve: (k) => k.parsedAddress ?? null }),
      placeOfBirth: s('placeOfBirth'),
      maritalStatus: s('maritalStatus'),
      nationality: s('nationality'),
      createdAt: t.field({ type: 'DateTime', resolve: (k) => asDateTime(k.createdAt) }),
    };
  },
});

/** A watch-list hit and the identity it has in this session's screening. */
export interface AmlHitSource {
  hit: Model.AmlHit;
  key: string;
}

/** An AML screening and the session it belongs to (hits are identified within it). */
export interface AmlSource {
  screening: Model.AmlScreening;
  sessionId: string;
}

/** The screening of a decision's session, ready for `Aml`; null when there is none. */
export const amlOf = (d: Model.Decision, screening: Model.AmlScreening | null): AmlSource | null =>
  screening && { screening, sessionId: d.sessionId.toLowerCase() };

export const AmlHit = builder.objectRef<AmlHitSource>('AmlHit');
AmlHit.implement({
  description: 'One watch-list entry that resembles the applicant, as screened in one session.',
  fields: (t) => ({
    id: t.id({
      nullable: false,
      description:
        "This hit in this session's screening (opaque): the same watch-list entry screened in two sessions is two hits, each with its own score. The entry itself is `entityId`.",
      resolve: (h) => h.key,
    }),
    entityId: t.id({ nullable: false, description: "The watch-list entry's own id (the same in every session that hits it).", resolve: (h) => h.hit.id }),
    match: t.boolean({ resolve: ({ hit }) => hit.match }),
    score: t.float({ description: 'From 0 to 1.', resolve: ({ hit }) => hit.score }),
    target: t.boolean({ resolve: ({ hit }) => hit.target }),
    caption: t.string({ resolve: ({ hit }) => hit.caption }),
    datasets: t.stringList({ nullable: false, resolve: ({ hit }) => hit.datasets }),
    features: t.field({ type: 'JSON', resolve: ({ hit }) => hit.features ?? null }),
    properties: t.field({ type: 'JSON', resolve: ({ hit }) => hit.properties ?? null }),
    firstSeen: t.field({ type: 'DateTime', resolve: ({ hit }) => asDateTime(hit.firstSeen) }),
    lastSeen: t.field({ type: 'DateTime', resolve: ({ hit }) => asDateTime(hit.lastSeen) }),
    lastChange: t.field({ type: 'DateTime', resolve: ({ hit }) => asDateTime(hit.lastChange) }),
  }),
});

export const Aml = builder.objectRef<AmlSource>('Aml');
Aml.implement({
  description: 'Anti-money-laundering screening (sanctions, PEP, adverse media). Reviewers only.',
  fields: (t) => ({
    nodeId: t.string({ description: 'v3: the workflow step this came from (null in v1).', resolve: (a) => a.screening.nodeId }),
    status: t.field({ type: CheckStatus, resolve: (a, _, ctx) => toCheckStatus(a.screening.status, warnOf(ctx)) }),
    totalHits: t.int({ nullable: false, resolve: (a) => a.screening.totalHits }),
    score: t.float({ description: 'From 0 to 100: the highest hit.', resolve: (a) => a.screening.score }),
    hits: t.field({
      type: [AmlHit],
      nullable: false,
      resolve: ({ screening, sessionId }) => {
        // A v3 workflow may screen twice: each step's hits are its own.
        const scope = screening.nodeId !== null ? `${sessionId}:${screening.nodeId}` : sessionId;
        return screening.hits.map((hit) => ({ hit, key: `${scope}:${hit.id}` }));
      },
    }),
  }),
});

const GenderEstimation = builder.objectRef<{ male: number | null; female: number | null }>('GenderEstimation');
GenderEstimation.implement({
  fields: (t) => ({
    male: t.exposeFloat('male', { nullable: true }),
    female: t.exposeFloat('female', { nullable: true }),
  }),
});

export const Face = builder.objectRef<Model.Face>('Face');
Face.implement({
  description: 'Face match against the document portrait, and liveness.',
  fields: (t) => {
    const check = (key: 'faceMatchStatus' | 'livenessStatus') =>
      t.field({ type: CheckStatus, resolve: (f, _, ctx) => toCheckStatus(f[key], warnOf(ctx)) });
    const url = (key: 'sourceImage' | 'targetImage' | 'videoUrl') => t.field({ type: 'URL', resolve: (f) => asUrl(f[key]) });
    return {
      status: t.field({
        type: CheckStatus,
        description:
          'The worst of livenessStatus and faceMatchStatus (DECLINED, then UNKNOWN, IN_REVIEW, NOT_FINISHED, APPROVED): APPROVED only when every face check present is approved, so a failed liveness is never an approved face.',
        resolve: (f, _, ctx) => toCheckStatus(f.status, warnOf(ctx)),
      }),
      faceMatchStatus: check('faceMatchStatus'),
      livenessStatus: check('livenessStatus'),
      faceMatchSimilarity: t.exposeFloat('faceMatchSimilarity', { nullable: true }),
      livenessConfidence: t.exposeFloat('livenessConfidence', { nullable: true }),
      sourceImage: url('sourceImage'),
      targetImage: url('targetImage'),
      videoUrl: url('videoUrl'),
      ageEstimation: t.exposeFloat('ageEstimation', { nullable: true }),
      genderEstimation: t.field({ type: GenderEstimation, resolve: (f) => f.genderEstimation }),
    };
  },
});

const GeoPoint = builder.objectRef<Model.GeoPoint>('GeoPoint');
GeoPoint.implement({
  fields: (t) => ({
    latitude: t.exposeFloat('latitude', { nullable: false }),
    longitude: t.exposeFloat('longitude', { nullable: false }),
  }),
});

const GeoDistance = builder.objectRef<{ distance: number; direction: string | null }>('GeoDistance');
GeoDistance.implement({
  fields: (t) => ({
    distance: t.exposeFloat('distance', { nullable: false }),
    direction: t.exposeString('direction', { nullable: true }),
  }),
});

export const Location = builder.objectRef<Model.IpAnalysis>('Location');
Location.implement({
  description: 'Device and IP location of the verification. Reviewers only.',
  fields: (t) => {
    type L = Model.IpAnalysis;
    const s = (key: { [P in keyof L]: L[P] extends string | null ? P : never }[keyof L]) => t.exposeString(key, { nullable: true });
    const f = (key: 'latitude' | 'longitude') => t.exposeFloat(key, { nullable: true });
    return {
      nodeId: t.exposeString('nodeId', { nullable: true, description: 'v3: the workflow step this came from (null in v1).' }),
      status: t.field({ type: CheckStatus, resolve: (l, _, ctx) => toCheckStatus(l.status, warnOf(ctx)) }),
      deviceBrand: s('deviceBrand'),
      deviceModel: s('deviceModel'),
      browserFamily: s('browserFamily'),
      osFamily: s('osFamily'),
      platform: s('platform'),
      ipCountry: s('ipCountry'),
      ipCountryCode: s('ipCountryCode'),
      ipState: s('ipState'),
      ipCity: s('ipCity'),
      latitude: f('latitude'),
      longitude: f('longitude'),
      ipAddress: s('ipAddress'),
      isp: s('isp'),
      organization: s('organization'),
      isVpnOrTor: t.exposeBoolean('isVpnOrTor', { nullable: true }),
      isDataCenter: t.exposeBoolean('isDataCenter', { nullable: true }),
      timeZone: s('timeZone'),
      timeZoneOffset: s('timeZoneOffset'),
      documentLocation: t.field({ type: GeoPoint, resolve: (l) => l.documentLocation }),
      ipLocation: t.field({ type: GeoPoint, resolve: (l) => l.ipLocation }),
      distanceFromDocumentToIpKm: t.field({ type: GeoDistance, resolve: (l) => l.distanceFromDocumentToIpKm }),
    };
  },
});

const Warning = builder.objectRef<Model.Warning>('Warning');
Warning.implement({
  fields: (t) => ({
    nodeId: t.exposeString('nodeId', { nullable: true, description: 'v3: the workflow step this came from (null in v1).' }),
    feature: t.exposeString('feature', { nullable: false }),
    risk: t.exposeString('risk', { nullable: false }),
    additionalData: t.field({ type: 'JSON', resolve: (w) => w.additionalData ?? null }),
    logType: t.exposeString('logType', { nullable: true }),
    shortDescription: t.exposeString('shortDescription', { nullable: true }),
    longDescription: t.exposeString('longDescription', { nullable: true }),
  }),
});

const Review = builder.objectRef<Model.Review>('Review');
Review.implement({
  fields: (t) => ({
    user: t.exposeString('user', { nullable: true }),
    newStatus: t.field({
      type: SessionStatus,
      resolve: (r, _, ctx) => (r.newStatus === null ? null : toSessionStatus(r.newStatus, warnOf(ctx))),
    }),
    comment: t.exposeString('comment', { nullable: true }),
    previousStatus: t.field({
      type: SessionStatus,
      description: 'v3.',
      resolve: (r, _, ctx) => (r.previousStatus === null ? null : toSessionStatus(r.previousStatus, warnOf(ctx))),
    }),
    activityType: t.exposeString('activityType', { nullable: true, description: 'v3: e.g. STATUS_UPDATED.' }),
    createdAt: t.field({ type: 'DateTime', resolve: (r) => asDateTime(r.createdAt) }),
  }),
});

export const Decision = builder.objectRef<Model.Decision>('Decision');
Decision.implement({
  description: "Didit's verdict on a session and the evidence behind it.",
  fields: (t) => ({
    id: t.id({
      nullable: false,
      description: "The session's id: a session has one decision (Didit's latest), so it is the decision's identity too (for client caches).",
      resolve: (d) => d.sessionId.toLowerCase(),
    }),
    sessionId: t.exposeID('sessionId', { nullable: false }),
    sessionNumber: t.exposeInt('sessionNumber', { nullable: true }),
    sessionUrl: t.field({ type: 'URL', resolve: (d) => asUrl(d.sessionUrl) }),
    status: t.field({ type: SessionStatus, nullable: false, resolve: (d, _, ctx) => toSessionStatus(d.status, warnOf(ctx)) }),
    vendorData: t.exposeString('vendorData', { nullable: true }),
    callback: t.field({ type: 'URL', resolve: (d) => asUrl(d.callback) }),
    features: t.field({
      type: [VerificationFeature],
      nullable: false,
      resolve: (d, _, ctx) => featuresOf(d.features, ctx),
    }),
    kyc: t.field({ type: Kyc, description: 'Owner or reviewer.', resolve: (d) => d.kyc }),
    face: t.field({ type: Face, description: 'Owner or reviewer.', resolve: (d) => d.face }),
    aml: t.field({
      type: Aml,
      description: 'Reviewers only (never shown to the applicant: no tipping off).',
      resolve: (d, _, ctx) => forReviewers(ctx, amlOf(d, d.aml), null),
    }),
    location: t.field({ type: Location, description: 'Reviewers only.', resolve: (d, _, ctx) => forReviewers(ctx, d.location, null) }),
    warnings: t.field({
      type: [Warning],
      nullable: false,
      description: 'Reviewers only (an empty list for others).',
      resolve: (d, _, ctx) => forReviewers(ctx, d.warnings, []),
    }),
    reviews: t.field({
      type: [Review],
      nullable: false,
      description: "Reviewers only (an empty list for others). With Didit v3, a page of the session's activity feed, newest first.",
      args: { first: t.arg.int({ defaultValue: 50 }), offset: t.arg.int({ defaultValue: 0 }) },
      resolve: async (d, { first, offset }, ctx) => {
        if (!ctx.caller?.reviewer) return [];
        const limit = first ?? 50;
        const from = offset ?? 0;
        if (limit < 1 || limit > 100 || from < 0) throw new GraphQLError('first is from 1 to 100 and offset 0 or more', { extensions: { code: 'BAD_USER_INPUT' } });
        // Without Didit's activity feed, the reviews the decision holds.
        if (!ctx.services.didit.can.reviewFeed) return d.reviews.slice(from, from + limit);
        // A page of the feed is a Didit GET: the reviewer waits for its turn.
        await ctx.services.budget.charge(payerOf(ctx.caller), 'get');
        return (await ctx.services.didit.listReviews(d.sessionId, { limit, offset: from })).results;
      },
    }),
    extraImages: t.field({
      type: ['URL'],
      nullable: false,
      resolve: (d) => d.extraImages.flatMap((u) => asUrl(u) ?? []),
    }),
    createdAt: t.field({ type: 'DateTime', resolve: (d) => asDateTime(d.createdAt) }),
  }),
});

/** The features Didit named; a name Didit adds later is logged and left out. */
export function featuresOf(names: readonly string[], ctx: GatewayContext) {
  return knownFeatures(names, (name) => warnOf(ctx)('unknown upstream feature', { feature: name.slice(0, 40) }));
}
