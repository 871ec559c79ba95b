/**
 * Reads a V8 `.cpuprofile` (from `node --cpu-prof`) and sums self time per function and per
 * package, counting only the samples taken inside a time window: the profile also covers start-up
 * (tsx compiling the sources) and warm-up, which would otherwise crowd the top of the list.
 */
import { readFileSync } from 'node:fs';
import { ROOT } from './processes.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  /** µs on CLOCK_MONOTONIC, the clock of `process.hrtime` in any process of this machine. */
  startTime: number;
  samples: number[];
  /** µs between a sample and the one before it. */
  timeDeltas: number[];
}

export interface SelfTime {
  name: string;
  ms: number;
  /** Share of the busy (non-idle) time in the window. */
  percent: number;
}

export interface ProfileSummary {
  windowMs: number;
  busyMs: number;
  idleMs: number;
  functions: SelfTime[];
  packages: SelfTime[];
}

/** A short location: a path inside the project, or node's own module name. */
function shortUrl(url: string): string {
  return url.replace(/^file:\/\//, '').replace(ROOT, '');
}

/** Which code a frame belongs to: a package, a folder of the gateway, node itself, or V8. */
function packageOf(frame: ProfileNode['callFrame']): string {
  const url = shortUrl(frame.url);
  if (!url) return frame.functionName.startsWith('(') ? frame.functionName : 'native (V8 builtins, C++)';
  const inModules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (inModules) return inModules[1]!;
  if (url.startsWith('node:')) return 'node (internal)';
  return url.split('/').slice(0, -1).join('/') || url;
}

function functionOf(frame: ProfileNode['callFrame']): string {
  const url = shortUrl(frame.url);
  if (!url) return frame.functionName;
  // tsx compiles each .ts module onto one line (minified whitespace): no useful line number there.
  const line = url.endsWith('.ts') ? '' : `:${frame.lineNumber + 1}`;
  return `${frame.functionName || '(anonymous)'} ${url}${line}`;
}

function rank(totals: Map<string, number>, busyMs: number, limit: number): SelfTime[] {
  return [...totals]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([name, ms]) => ({ name, ms, percent: (ms / busyMs) * 100 }));
}

export function summarizeProfile(file: string, window: { startUs: number; endUs: number }, limit = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const byFunction = new Map<string, number>();
  const byPackage = new Map<string, number>();
  let idleMs = 0;
  let busyMs = 0;
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i]!;
    // A sample stands for the time until the next one (self time = sum of these per frame).
    const ms = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    if (at < window.startUs || at > window.endUs) continue;
    const frame = frames.get(profile.samples[i]!)!;
    if (frame.functionName === '(idle)') {
      idleMs += ms;
      continue;
    }
    busyMs += ms;
    const name = functionOf(frame);
    byFunction.set(name, (byFunction.get(name) ?? 0) + ms);
    const pkg = packageOf(frame);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + ms);
  }
  return {
    windowMs: (window.endUs - window.startUs) / 1000,
    busyMs,
    idleMs,
    functions: rank(byFunction, busyMs, limit),
    packages: rank(byPackage, busyMs, 12),
  };
}
