/**
 * The sandbox's applicants: who is on each document, with their face, device and network, as
 * plain data. `personas.ts` picks one per session and builds the check results from it.
 *
 * One persona, Sergey Kozlov, is the seed's example to the letter (document, face, location, AML
 * hit), so code written against the seed's decision sees it again here.
 */
import type { AmlHit, Face, Kyc, Location } from './wire.ts';

/** The KYC fields of the person on the document; the rest of `Kyc` describes the check. */
type PersonalKyc = Pick<
  Kyc,
  | 'document_type'
  | 'document_number'
  | 'personal_number'
  | 'date_of_birth'
  | 'expiration_date'
  | 'date_of_issue'
  | 'issuing_state'
  | 'issuing_state_name'
  | 'first_name'
  | 'last_name'
  | 'gender'
  | 'address'
  | 'formatted_address'
  | 'place_of_birth'
  | 'marital_status'
  | 'nationality'
>;

type Device = Pick<Location, 'device_brand' | 'device_model' | 'browser_family' | 'os_family' | 'platform'>;
type Ip = Pick<
  Location,
  'ip_country' | 'ip_country_code' | 'ip_state' | 'ip_city' | 'ip_address' | 'isp' | 'organization' | 'time_zone' | 'time_zone_offset'
> & { latitude: number; longitude: number };

export interface Persona {
  /** A stable name for tests and logs. */
  key: string;
  /** Whether the person is on a watch list: their AML screening has hits. */
  watchlist: boolean;
  kyc: PersonalKyc;
  /** Whether the document has a back side (ID cards do, passports do not). */
  twoSided: boolean;
  face: Pick<Face, 'face_match_similarity' | 'liveness_confidence' | 'age_estimation' | 'gender_estimation'>;
  device: Device;
  ip: Ip;
  /** Where the document places the person; for Kozlov, the seed's (odd but faithful) point. */
  documentLocation: { latitude: number; longitude: number };
  amlHits: AmlHit[];
}

/** The seed's AML hit, verbatim. */
const KOZLOV_HIT: AmlHit = {
  id: 'aaaaaaa-1111-2222-3333-4444-555555555555',
  match: false,
  score: 0.7034920634920635,
  target: true,
  caption: 'Kozlov Sergey Alexandrovich',
  datasets: ['ru_acf_bribetakers'],
  features: { person_name_jaro_winkler: 0.8793650793650793, person_name_phonetic_match: 0.5 },
  last_seen: '2024-07-20T17:53:03',
  first_seen: '2023-06-23T12:02:51',
  properties: {
    name: ['Kozlov Sergey Alexandrovich'],
    alias: ['Козлов Сергей Александрович'],
    notes: [
      'Assistant Prosecutor of the Soviet District of Voronezh. Involved in the case against the Ukrainian pilot Nadiya Savchenko',
    ],
    gender: ['male'],
    topics: ['poi'],
    position: ['Organizers of political repressions', 'Организаторы политических репрессий'],
  },
  last_change: '2024-02-27T17:53:01',
};


const IPHONE: Device = { device_brand: 'Apple', device_model: 'iPhone', browser_family: 'Mobile Safari', os_family: 'iOS', platform: 'mobile' };

export const PERSONAS: readonly Persona[] = [
  {
    key: 'sergey-kozlov',
    watchlist: true,
    kyc: {
      document_type: 'Passport',
      document_number: 'BK123456',
      personal_number: '999999999',
      date_of_birth: '1990-01-01',
      expiration_date: '2026-03-24',
      date_of_issue: '2019-03-24',
      issuing_state: 'ESP',
      issuing_state_name: 'Spain',
      first_name: 'Sergey',
      last_name: 'Kozlov',
      gender: 'M',
      address: 'C Clot 36 P02,Barcelona,Barcelona Esp',
      formatted_address: 'Carrer del Clot, 36, p02, Sant Martí, 08018 Barcelona, Spain',
      place_of_birth: 'Madrid, Spain',
      marital_status: 'SINGLE',
      nationality: 'ESP',
    },
    twoSided: false,
    face: { face_match_similarity: 97.99, liveness_confidence: 87.99, age_estimation: 24.3, gender_estimation: { male: 99.23, female: 0.77 } },
    device: IPHONE,
    ip: {
      ip_country: 'Spain',
      ip_country_code: 'ES',
      ip_state: 'Barcelona',
      ip_city: 'Barcelona',
      latitude: 41.4022,
      longitude: 2.1407,
      ip_address: '83.50.226.71',
      isp: null,
      organization: null,
      time_zone: 'Europe/Madrid',
      time_zone_offset: '+0100',
    },
    documentLocation: { latitude: 4, longitude: -72 },
    amlHits: [KOZLOV_HIT],
  },
  {
    key: 'lucia-fernandez',
    watchlist: false,
    kyc: {
      document_type: 'Identity Card',
      document_number: 'CAA482917',
      personal_number: '48291736K',
      date_of_birth: '1988-11-03',
      expiration_date: '2031-06-14',
      date_of_issue: '2021-06-14',
      issuing_state: 'ESP',
      issuing_state_name: 'Spain',
      first_name: 'Lucía',
      last_name: 'Fernández Ruiz',
      gender: 'F',
      address: 'C Alcala 120 3B,Madrid,Madrid Esp',
      formatted_address: 'Calle de Alcalá, 120, 3B, Salamanca, 28009 Madrid, Spain',
      place_of_birth: 'Sevilla, Spain',
      marital_status: 'MARRIED',
      nationality: 'ESP',
    },
    twoSided: true,
    face: { face_match_similarity: 95.42, liveness_confidence: 92.1, age_estimation: 35.8, gender_estimation: { male: 1.64, female: 98.36 } },
    device: { device_brand: 'Samsung', device_model: 'SM-S911B', browser_family: 'Chrome Mobile', os_family: 'Android', platform: 'mobile' },
    ip: {
      ip_country: 'Spain',
      ip_country_code: 'ES',
      ip_state: 'Madrid',
      ip_city: 'Madrid',
      latitude: 40.4168,
      longitude: -3.7038,
      ip_address: '88.27.143.9',
      isp: 'Telefonica de Espana',
      organization: 'Telefonica de Espana',
      time_zone: 'Europe/Madrid',
      time_zone_offset: '+0100',
    },
    documentLocation: { latitude: 40.4637, longitude: -3.7492 },
    amlHits: [],
  },
  {
    key: 'jonas-becker',
    watchlist: false,
    kyc: {
      document_type: 'Passport',
      document_number: 'C01X00T47',
      personal_number: null,
      date_of_birth: '1979-04-21',
      expiration_date: '2032-09-01',
      date_of_issue: '2022-09-01',
      issuing_state: 'DEU',
      issuing_state_name: 'Germany',
      first_name: 'Jonas',
      last_name: 'Becker',
      gender: 'M',
      address: null,
      formatted_address: null,
      place_of_birth: 'Hamburg',
      marital_status: 'UNKNOWN',
      nationality: 'DEU',
    },
    twoSided: false,
    face: { face_match_similarity: 93.07, liveness_confidence: 90.45, age_estimation: 44.9, gender_estimation: { male: 97.8, female: 2.2 } },
    device: { device_brand: 'Apple', device_model: 'Mac', browser_family: 'Safari', os_family: 'Mac OS X', platform: 'desktop' },
    ip: {
      ip_country: 'Germany',
      ip_country_code: 'DE',
      ip_state: 'Berlin',
      ip_city: 'Berlin',
      latitude: 52.52,
      longitude: 13.405,
      ip_address: '91.64.18.203',
      isp: 'Vodafone GmbH',
      organization: 'Vodafone GmbH',
      time_zone: 'Europe/Berlin',
      time_zone_offset: '+0100',
    },
    documentLocation: { latitude: 51.1657, longitude: 10.4515 },
    amlHits: [],
  },
  {
    key: 'amelie-dubois',
    watchlist: false,
    kyc: {
      document_type: 'Identity Card',
      document_number: 'X4RTBPFW4',
      personal_number: null,
      date_of_birth: '1996-02-09',
      expiration_date: '2033-01-17',
      date_of_issue: '2023-01-17',
      issuing_state: 'FRA',
      issuing_state_name: 'France',
      first_name: 'Amélie',
      last_name: 'Dubois',
      gender: 'F',
      address: '12 Rue Merciere,Lyon,Fra',
      formatted_address: '12 Rue Mercière, 69002 Lyon, France',
      place_of_birth: 'Lyon',
      marital_status: 'SINGLE',
      nationality: 'FRA',
    },
    twoSided: true,
    face: { face_match_similarity: 96.63, liveness_confidence: 89.3, age_estimation: 27.6, gender_estimation: { male: 3.05, female: 96.95 } },
    device: IPHONE,
    ip: {
      ip_country: 'France',
      ip_country_code: 'FR',
      ip_state: 'Auvergne-Rhone-Alpes',
      ip_city: 'Lyon',
      latitude: 45.764,
      longitude: 4.8357,
      ip_address: '90.44.71.152',
      isp: 'Orange S.A.',
      organization: 'Orange S.A.',
      time_zone: 'Europe/Paris',
      time_zone_offset: '+0100',
    },
    documentLocation: { latitude: 46.2276, longitude: 2.2137 },
    amlHits: [],
  },
  {
    key: 'priya-nair',
    watchlist: false,
    kyc: {
      document_type: 'Passport',
      document_number: '533401372',
      personal_number: null,
      date_of_birth: '1992-07-30',
      expiration_date: '2030-05-12',
      date_of_issue: '2020-05-12',
      issuing_state: 'GBR',
      issuing_state_name: 'United Kingdom',
      first_name: 'Priya',
      last_name: 'Nair',
      gender: 'F',
      address: null,
      formatted_address: null,
      place_of_birth: 'Leicester',
      marital_status: 'UNKNOWN',
      nationality: 'GBR',
    },
    twoSided: false,
    face: { face_match_similarity: 94.18, liveness_confidence: 91.72, age_estimation: 31.2, gender_estimation: { male: 4.4, female: 95.6 } },
    device: { device_brand: 'Google', device_model: 'Pixel 8', browser_family: 'Chrome Mobile', os_family: 'Android', platform: 'mobile' },
    ip: {
      ip_country: 'United Kingdom',
      ip_country_code: 'GB',
      ip_state: 'England',
      ip_city: 'London',
      latitude: 51.5072,
      longitude: -0.1276,
      ip_address: '86.12.205.64',
      isp: 'Virgin Media',
      organization: 'Virgin Media',
      time_zone: 'Europe/London',
      time_zone_offset: '+0000',
    },
    documentLocation: { latitude: 55.3781, longitude: -3.436 },
    amlHits: [],
  },
];
