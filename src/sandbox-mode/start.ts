import { randomBytes, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { Config } from '../config.ts';
import type { Sandbox, SandboxOptions } from '../sandbox/server.ts';
import { KYC_AML_WORKFLOW_ID } from '../sandbox/workflows.ts';

/** Ready-made caller tokens, printed at start and put in GraphiQL. */
export interface DemoTokens {
  applicant: string;
  applicantSub: string;
  reviewer: string;
}

export interface SandboxMode {
  /** The embedded Didit simulator. */
  sandbox: { url: string; instance: Sandbox };
  /** The configuration with Didit pointed at the simulator. */
  config: Config;
  /** The secret callers' tokens are verified with: the configured one, or one made up here. */
  jwtSecret?: string;
  /** Only with a secret this process made up (see `startSandboxMode`). */
  demoTokens?: DemoTokens;
  /** The secret the simulator signs its webhooks with; they come to this gateway. */
  webhookSecret: string;
}

const DEMO_TOKEN_LIFETIME = '24h';

/**
 * Sandbox mode (no Didit credentials): starts the simulator in-process on `SANDBOX_PORT` and
 * points the gateway at it. Loaded only in sandbox mode, so a gateway talking to Didit carries
 * none of the simulator.
 */
export async function startSandboxMode(config: Config, options: Partial<SandboxOptions> = {}): Promise<SandboxMode> {
  const { createSandbox } = await import('../sandbox/server.ts');
  const instance = createSandbox({
    clientId: config.sandboxServer.clientId,
    clientSecret: config.sandboxServer.clientSecret,
    apiKey: config.sandboxServer.apiKey,
    ...options,
  });
  const { url } = await instance.listen(config.sandboxServer.port, '127.0.0.1');
  // In v3, sessions run the sandbox's KYC + AML workflow unless DIDIT_WORKFLOW_ID names another.
  const didit = { ...config.didit, authUrl: url, apiUrl: url, defaultWorkflowId: config.didit.defaultWorkflowId ?? KYC_AML_WORKFLOW_ID };
  // Callers are verified with a secret of this process's own unless one is configured. Ready-made
  // tokens only with that made-up secret: a configured secret may be a real one, and a reviewer
  // token for it must never sit in a GraphiQL page.
  const ownSecret = !config.auth.jwtSecret && !config.auth.jwksUrl ? randomBytes(32).toString('base64url') : undefined;
  return {
    sandbox: { url, instance },
    config: { ...config, didit },
    jwtSecret: ownSecret ?? config.auth.jwtSecret,
    demoTokens: ownSecret ? await mintDemoTokens(ownSecret, config) : undefined,
    webhookSecret: randomBytes(32).toString('base64url'),
  };
}

async function mintDemoTokens(secret: string, config: Config): Promise<DemoTokens> {
  const key = new TextEncoder().encode(secret);
  const mint = (sub: string, roles: string[]) => {
    let jwt = new SignJWT({ [config.auth.rolesClaim]: roles }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setIssuedAt().setExpirationTime(DEMO_TOKEN_LIFETIME);
    if (config.auth.issuer) jwt = jwt.setIssuer(config.auth.issuer);
    if (config.auth.audience) jwt = jwt.setAudience(config.auth.audience);
    return jwt.sign(key);
  };
  const applicantSub = `applicant-${randomUUID()}`;
  return { applicant: await mint(applicantSub, []), applicantSub, reviewer: await mint('sandbox-reviewer', ['reviewer']) };
}
