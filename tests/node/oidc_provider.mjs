// A real OpenID provider for the tests: panva's oidc-provider on 127.0.0.1, a random port.
//
// Prints {"issuer": "..."} as one line on stdout once it listens. Clients register through the
// standard dynamic registration endpoint (/reg), with ES256 ID tokens (its only key). The
// tests control accounts through one test-only endpoint:
//   POST /test/accounts {sub, email, email_verified, groups, name, preferred_username, tamper}
//        adds or replaces an account; `tamper` is one of foreign-key, wrong-audience, expired,
//        wrong-nonce, other-azp: the token endpoint's ID token is then re-signed with that fault.
// Logging in needs no form: the interaction signs in the account named by the authorization
// request's login_hint (the last account added when there is none) and grants what it asked.
import { createServer } from 'node:http';
import Provider from 'oidc-provider';
import * as jose from 'jose';

const accounts = new Map();
let lastAdded = null;

// P-256 keys: made in well under a millisecond (an RSA key takes ~0.5 s on a busy machine).
const signing = await jose.generateKeyPair('ES256', { extractable: true });
const foreign = await jose.generateKeyPair('ES256', { extractable: true });
const jwk = { ...(await jose.exportJWK(signing.privateKey)), kid: 'test-key', alg: 'ES256', use: 'sig' };

const server = createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  jwks: { keys: [jwk] },
  cookies: { keys: ['switchboard-test-provider'] },
  conformIdTokenClaims: false, // the claims go in the ID token, as Keycloak and Entra put them
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  features: {
    devInteractions: { enabled: false },
    registration: { enabled: true },
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, sub) {
    const account = accounts.get(sub);
    if (!account) return undefined;
    return {
      accountId: sub,
      async claims() {
        const { tamper, ...claims } = account;
        return { ...claims, sub };
      },
    };
  },
});

async function tamper(fault, token) {
  const now = Math.floor(Date.now() / 1000);
  const claims = jose.decodeJwt(token);
  let key = signing.privateKey;
  if (fault === 'foreign-key') key = foreign.privateKey;
  else if (fault === 'wrong-audience') claims.aud = 'someone-else';
  else if (fault === 'expired') Object.assign(claims, { iat: now - 7200, exp: now - 3600 });
  else if (fault === 'wrong-nonce') claims.nonce = 'not-the-nonce-sent';
  else if (fault === 'other-azp') Object.assign(claims, { aud: [claims.aud, 'other'], azp: 'other' });
  return new jose.SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'test-key' }).sign(key);
}

provider.use(async (ctx, next) => {
  await next();
  if (ctx.path === '/token' && ctx.status === 200 && ctx.body && ctx.body.id_token) {
    const fault = accounts.get(jose.decodeJwt(ctx.body.id_token).sub)?.tamper;
    if (fault) ctx.body = { ...ctx.body, id_token: await tamper(fault, ctx.body.id_token) };
  }
});

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  if (prompt.name === 'login') {
    const accountId = params.login_hint || lastAdded;
    await provider.interactionFinished(req, res, { login: { accountId } }, { mergeWithLastSubmission: false });
    return;
  }
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
  if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

const callback = provider.callback();
server.on('request', async (req, res) => {
  try {
    if (req.method === 'POST' && req.url === '/test/accounts') {
      const account = await readJson(req);
      accounts.set(account.sub, account);
      lastAdded = account.sub;
      res.writeHead(204).end();
    } else if (req.url.startsWith('/interaction/')) {
      await interaction(req, res);
    } else {
      callback(req, res);
    }
  } catch (error) {
    res.writeHead(500, { 'content-type': 'text/plain' }).end(String(error));
  }
});
process.stdout.write(`${JSON.stringify({ issuer })}\n`);
