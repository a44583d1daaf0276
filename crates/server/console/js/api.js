// The Admin API client. The session (access and refresh tokens) lives only in this module's
// memory: never in storage, never in a cookie, and the private key is only ever passed to
// the login request. Every request carries `Authorization: Bearer`; an expired access token
// is renewed once with the refresh token, then the request is repeated.

const BASE = '/api/admin/v3.0';

let session = null;
let renewing = null;
const endListeners = [];

/** An error answer of the API: its status, code, message, and for a refused instance query
 * the collection key and the position in its query text. */
export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `the hub answered ${status}`);
    this.status = status;
    this.code = body && body.error_code;
    this.queryKey = body && body.query_key;
    this.queryPosition = body && body.query_position;
  }
}

async function send(method, path, body, token) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(BASE + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch (error) {
    throw new ApiError(0, { error: `the hub cannot be reached (${error.message})`, error_code: 'Network' });
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch (_) {
      data = { error: text };
    }
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

/** Signs in with an API key pair; the private key is not kept. */
export async function signIn(publicKey, privateKey) {
  const reply = await send('POST', '/auth/providers/mongodb-cloud/login', {
    username: publicKey,
    apiKey: privateKey,
  });
  session = { access: reply.access_token, refresh: reply.refresh_token, userId: reply.user_id };
}

/** Forgets the session. */
export function signOut() {
  session = null;
}

export function signedIn() {
  return session !== null;
}

/** `listener()` runs when the session ends by itself (its refresh token refused). */
export function onSessionEnd(listener) {
  endListeners.push(listener);
}

function renew() {
  if (!renewing) {
    const refresh = session.refresh;
    renewing = send('POST', '/auth/session', undefined, refresh)
      .then((reply) => {
        if (session && session.refresh === refresh) session.access = reply.access_token;
      })
      .catch((error) => {
        session = null;
        endListeners.forEach((listener) => listener());
        throw error;
      })
      .finally(() => {
        renewing = null;
      });
  }
  return renewing;
}

/** A request of the signed-in session: `call('GET', '/groups')`. */
export async function call(method, path, body) {
  if (!session) throw new ApiError(401, { error: 'not signed in', error_code: 'InvalidSession' });
  try {
    return await send(method, path, body, session.access);
  } catch (error) {
    if (error.status !== 401 || !session) throw error;
    await renew();
    return send(method, path, body, session.access);
  }
}
