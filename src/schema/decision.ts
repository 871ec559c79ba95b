import { GraphQLError } from 'graphql';
import { featuresFromWire } from '../didit/features.ts';
import type * as Wire from '../didit/types.ts';
import type { GatewayContext } from '../core/context.ts';
import { builder } from './builder.ts';
import { CheckStatus, SessionStatus, VerificationFeature, toCheckStatus, toSessionStatus } from './enums.ts';
import { asDate, asDateTime, asUrl } from './scalars.ts';

/**
 * Didit's decision, mapped from the snake_case wire shapes once per type. Upstream values are
 * never trusted: each field reads defensively, so a missing object is null, an odd value is
 * null, and a status Didit adds later is UNKNOWN.
 */

export const warnOf = (ctx: GatewayContext) => (message: string, details: Record<string, unknown>) =>
  ctx.services.log.warn(details, message);

/** Reviewer-only parts of a decision: null (or empty) for everyone else. */
export const forReviewers = <T>(ctx: GatewayContext, value: T, otherwise: T): T => (ctx.caller?.reviewer ? value : otherwise);

const str = (value: unknown) => (typeof value === 'string' ? value : null);
const num = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? value : null);
const bool = (value: unknown) => (typeof value === 'boolean' ? value : null);
const obj = <T>(value: T | null | undefined): T | null => (value && typeof value === 'object' && !Array.isArray(value) ? value : null);
const list = <T>(value: T[] | null | undefined): T[] => (Array.isArray(value) ? value : []);

export const Kyc = builder.objectRef<Wire.Kyc>('Kyc');
Kyc.implement({
  description: 'Identity document data read by OCR (and NFC).',
  fields: (t) => {
    const s = (key: keyof Wire.Kyc) => t.string({ resolve: (k) => str(k[key]) });
    const url = (key: keyof Wire.Kyc) => t.field({ type: 'URL', resolve: (k) => asUrl(k[key]) });
    const date = (key: keyof Wire.Kyc) => t.field({ type: 'Date', resolve: (k) => asDate(k[key]) });
    const check = (key: keyof Wire.Kyc) =>
      t.field({ type: CheckStatus, resolve: (k, _, ctx) => toCheckStatus(k[key], warnOf(ctx)) });
    return {
      nodeId: t.string({ description: 'v3: the workflow step this came from (null in v1).', resolve: (v) => str(v.node_id) }),
      status: check('status'),
      ocrStatus: check('ocr_status'),
      epassportStatus: check('epassport_status'),
      documentType: s('document_type'),
      documentNumber: s('document_number'),
      personalNumber: s('personal_number'),
      portraitImage: url('portrait_image'),
      frontImage: url('front_image'),
      frontVideo: url('front_video'),
      backImage: url('back_image'),
      backVideo: url('back_video'),
      fullFrontImage: url('full_front_image'),
      fullBackImage: url('full_back_image'),
      dateOfBirth: date('date_of_birth'),
      expirationDate: date('expiration_date'),
      dateOfIssue: date('date_of_issue'),
      issuingState: s('issuing_state'),
      issuingStateName: s('issuing_state_name'),
      firstName: s('first_name'),
      lastName: s('last_name'),
      fullName: s('full_name'),
      gender: s('gender'),
      address: s('address'),
      formattedAddress: s('formatted_address'),
      isNfcVerified: t.boolean({ resolve: (k) => bool(k.is_nfc_verified) }),
      parsedAddress: t.field({ type: 'JSON', resolve: (k) => k.parsed_address ?? null }),
      placeOfBirth: s('place_of_birth'),
      maritalStatus: s('marital_status'),
      nationality: s('nationality'),
      createdAt: t.field({ type: 'DateTime', resolve: (k) => asDateTime(k.created_at) }),
    };
  },
});

/** A watch-list hit and the identity it has in this session's screening. */
export interface AmlHitSource {
  hit: Wire.AmlHit;
  key: string;
}

/** An AML screening and the session it belongs to (hits are identified within it). */
export interface AmlSource {
  screening: Wire.Aml;
  sessionId: string;
}

/** The screening of a decision's session, ready for `Aml`; null when there is none. */
export const amlOf = (d: Wire.Decision, screening: Wire.Aml | null | undefined): AmlSource | null => {
  const value = obj(screening);
  return value && { screening: value, sessionId: d.session_id.toLowerCase() };
};

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
    entityId: t.id({ nullable: false, description: "The watch-list entry's own id (the same in every session that hits it).", resolve: (h) => String(h.hit.id) }),
    match: t.boolean({ resolve: ({ hit }) => bool(hit.match) }),
    score: t.float({ description: 'From 0 to 1.', resolve: ({ hit }) => num(hit.score) }),
    target: t.boolean({ resolve: ({ hit }) => bool(hit.target) }),
    caption: t.string({ resolve: ({ hit }) => str(hit.caption) }),
    datasets: t.stringList({ nullable: false, resolve: ({ hit }) => list(hit.datasets).filter((d) => typeof d === 'string') }),
    features: t.field({ type: 'JSON', resolve: ({ hit }) => hit.features ?? null }),
    properties: t.field({ type: 'JSON', resolve: ({ hit }) => hit.properties ?? null }),
    firstSeen: t.field({ type: 'DateTime', resolve: ({ hit }) => asDateTime(hit.first_seen) }),
    lastSeen: t.field({ type: 'DateTime', resolve: ({ hit }) => asDateTime(hit.last_seen) }),
    lastChange: t.field({ type: 'DateTime', resolve: ({ hit }) => asDateTime(hit.last_change) }),
  }),
});

export const Aml = builder.objectRef<AmlSource>('Aml');
Aml.implement({
  description: 'Anti-money-laundering screening (sanctions, PEP, adverse media). Reviewers only.',
  fields: (t) => ({
    nodeId: t.string({ description: 'v3: the workflow step this came from (null in v1).', resolve: (a) => str(a.screening.node_id) }),
    status: t.field({ type: CheckStatus, resolve: (a, _, ctx) => toCheckStatus(a.screening.status, warnOf(ctx)) }),
    totalHits: t.int({
      nullable: false,
      resolve: ({ screening: a }) => (Number.isSafeInteger(a.total_hits) ? a.total_hits : list(a.hits).length),
    }),
    score: t.float({ description: 'From 0 to 100: the highest hit.', resolve: (a) => num(a.screening.score) }),
    hits: t.field({
      type: [AmlHit],
      nullable: false,
      resolve: ({ screening, sessionId }) => {
        // A v3 workflow may screen twice: each step's hits are its own.
        const scope = typeof screening.node_id === 'string' ? `${sessionId}:${screening.node_id}` : sessionId;
        return list(screening.hits)
          .filter((h) => obj(h) && h.id != null)
          .map((hit) => ({ hit, key: `${scope}:${String(hit.id)}` }));
      },
    }),
  }),
});

const GenderEstimation = builder.objectRef<{ male: number | null; female: number | null }>('GenderEstimation');
GenderEstimation.implement({
  fields: (t) => ({
    male: t.float({ resolve: (g) => num(g.male) }),
    female: t.float({ resolve: (g) => num(g.female) }),
  }),
});

export const Face = builder.objectRef<Wire.Face>('Face');
Face.implement({
  description: 'Face match against the document portrait, and liveness.',
  fields: (t) => {
    const check = (key: keyof Wire.Face) =>
      t.field({ type: CheckStatus, resolve: (f, _, ctx) => toCheckStatus(f[key], warnOf(ctx)) });
    const url = (key: keyof Wire.Face) => t.field({ type: 'URL', resolve: (f) => asUrl(f[key]) });
    return {
      status: check('status'),
      faceMatchStatus: check('face_match_status'),
      livenessStatus: check('liveness_status'),
      faceMatchSimilarity: t.float({ resolve: (f) => num(f.face_match_similarity) }),
      livenessConfidence: t.float({ resolve: (f) => num(f.liveness_confidence) }),
      sourceImage: url('source_image'),
      targetImage: url('target_image'),
      videoUrl: url('video_url'),
      ageEstimation: t.float({ resolve: (f) => num(f.age_estimation) }),
      genderEstimation: t.field({ type: GenderEstimation, resolve: (f) => obj(f.gender_estimation) }),
    };
  },
});

const GeoPoint = builder.objectRef<Wire.GeoPoint>('GeoPoint');
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
    direction: t.string({ resolve: (d) => str(d.direction) }),
  }),
});

/** A point only when both coordinates are numbers; a broken one is dropped, not an error. */
const geoPoint = (value: Wire.GeoPoint | null | undefined) => {
  const point = obj(value);
  return point && num(point.latitude) !== null && num(point.longitude) !== null ? point : null;
};

export const Location = builder.objectRef<Wire.Location>('Location');
Location.implement({
  description: 'Device and IP location of the verification. Reviewers only.',
  fields: (t) => {
    const s = (key: keyof Wire.Location) => t.string({ resolve: (l) => str(l[key]) });
    const f = (key: keyof Wire.Location) => t.float({ resolve: (l) => num(l[key]) });
    return {
      nodeId: t.string({ description: 'v3: the workflow step this came from (null in v1).', resolve: (l) => str(l.node_id) }),
      status: t.field({ type: CheckStatus, resolve: (l, _, ctx) => toCheckStatus(l.status, warnOf(ctx)) }),
      deviceBrand: s('device_brand'),
      deviceModel: s('device_model'),
      browserFamily: s('browser_family'),
      osFamily: s('os_family'),
      platform: s('platform'),
      ipCountry: s('ip_country'),
      ipCountryCode: s('ip_country_code'),
      ipState: s('ip_state'),
      ipCity: s('ip_city'),
      latitude: f('latitude'),
      longitude: f('longitude'),
      ipAddress: s('ip_address'),
      isp: s('isp'),
      organization: s('organization'),
      isVpnOrTor: t.boolean({ resolve: (l) => bool(l.is_vpn_or_tor) }),
      isDataCenter: t.boolean({ resolve: (l) => bool(l.is_data_center) }),
      timeZone: s('time_zone'),
      timeZoneOffset: s('time_zone_offset'),
      documentLocation: t.field({ type: GeoPoint, resolve: (l) => geoPoint(l.document_location) }),
      ipLocation: t.field({ type: GeoPoint, resolve: (l) => geoPoint(l.ip_location) }),
      distanceFromDocumentToIpKm: t.field({
        type: GeoDistance,
        resolve: (l) => {
          const d = obj(l.distance_from_document_to_ip_km);
          return d && num(d.distance) !== null ? d : null;
        },
      }),
    };
  },
});

const Warning = builder.objectRef<Wire.Warning>('Warning');
Warning.implement({
  fields: (t) => ({
    nodeId: t.string({ description: 'v3: the workflow step this came from (null in v1).', resolve: (w) => str(w.node_id) }),
    feature: t.string({ nullable: false, resolve: (w) => str(w.feature) ?? '' }),
    risk: t.string({ nullable: false, resolve: (w) => str(w.risk) ?? '' }),
    additionalData: t.field({ type: 'JSON', resolve: (w) => w.additional_data ?? null }),
    logType: t.string({ resolve: (w) => str(w.log_type) }),
    shortDescription: t.string({ resolve: (w) => str(w.short_description) }),
    longDescription: t.string({ resolve: (w) => str(w.long_description) }),
  }),
});

const Review = builder.objectRef<Wire.Review>('Review');
Review.implement({
  fields: (t) => ({
    user: t.string({ resolve: (r) => str(r.user) }),
    newStatus: t.field({
      type: SessionStatus,
      resolve: (r, _, ctx) => (r.new_status == null ? null : toSessionStatus(r.new_status, warnOf(ctx))),
    }),
    comment: t.string({ resolve: (r) => str(r.comment) }),
    previousStatus: t.field({
      type: SessionStatus,
      description: 'v3.',
      resolve: (r, _, ctx) => {
        const previous = (r as { previous_status?: unknown }).previous_status;
        return previous == null ? null : toSessionStatus(previous, warnOf(ctx));
      },
    }),
    activityType: t.string({ description: 'v3: e.g. STATUS_UPDATED.', resolve: (r) => str((r as { activity_type?: unknown }).activity_type) }),
    createdAt: t.field({ type: 'DateTime', resolve: (r) => asDateTime(r.created_at) }),
  }),
});

export const Decision = builder.objectRef<Wire.Decision>('Decision');
Decision.implement({
  description: "Didit's verdict on a session and the evidence behind it.",
  fields: (t) => ({
    id: t.id({
      nullable: false,
      description: "The session's id: a session has one decision (Didit's latest), so it is the decision's identity too (for client caches).",
      resolve: (d) => d.session_id.toLowerCase(),
    }),
    sessionId: t.id({ nullable: false, resolve: (d) => d.session_id }),
    sessionNumber: t.int({ resolve: (d) => (Number.isSafeInteger(d.session_number) ? d.session_number : null) }),
    sessionUrl: t.field({ type: 'URL', resolve: (d) => asUrl(d.session_url) }),
    status: t.field({ type: SessionStatus, nullable: false, resolve: (d, _, ctx) => toSessionStatus(d.status, warnOf(ctx)) }),
    vendorData: t.string({ resolve: (d) => str(d.vendor_data) }),
    callback: t.field({ type: 'URL', resolve: (d) => asUrl(d.callback) }),
    features: t.field({
      type: [VerificationFeature],
      nullable: false,
      resolve: (d, _, ctx) => featuresOf(d.features, ctx),
    }),
    kyc: t.field({ type: Kyc, description: 'Owner or reviewer.', resolve: (d) => obj(d.kyc) }),
    face: t.field({ type: Face, description: 'Owner or reviewer.', resolve: (d) => obj(d.face) }),
    aml: t.field({
      type: Aml,
      description: 'Reviewers only (never shown to the applicant: no tipping off).',
      resolve: (d, _, ctx) => forReviewers(ctx, amlOf(d, d.aml), null),
    }),
    location: t.field({ type: Location, description: 'Reviewers only.', resolve: (d, _, ctx) => forReviewers(ctx, obj(d.location), null) }),
    warnings: t.field({
      type: [Warning],
      nullable: false,
      description: 'Reviewers only (an empty list for others).',
      resolve: (d, _, ctx) => forReviewers(ctx, list(d.warnings).filter((w) => obj(w)), []),
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
        if (ctx.services.didit.api === 'v1') return list(d.reviews).filter((r) => obj(r)).slice(from, from + limit);
        const page = await ctx.services.didit.listReviews(d.session_id, { limit, offset: from });
        return page.results.map((entry) => ({ ...entry, user: entry.actor_display ?? null }) as Wire.Review);
      },
    }),
    extraImages: t.field({
      type: ['URL'],
      nullable: false,
      resolve: (d) => list(d.extra_images).flatMap((u) => asUrl(u) ?? []),
    }),
    createdAt: t.field({ type: 'DateTime', resolve: (d) => asDateTime(d.created_at) }),
  }),
});

/** Features named by Didit's string; a name Didit adds later is logged and left out. */
export function featuresOf(value: unknown, ctx: GatewayContext) {
  return featuresFromWire(typeof value === 'string' ? value : null, (name) =>
    warnOf(ctx)('unknown upstream feature', { feature: name.slice(0, 40) }),
  );
}
