// The userq JSON API, as every client uses it. The tokens live in this module's memory only (never in
// localStorage or a cookie a script could read): a reload signs out. The access token is refreshed before
// it expires and again when a call answers 401; a refresh that fails ends the session here too.

export class ApiError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

let tokens = null; // {access, refresh}
let refreshing = null;
let timer = null;
const ended = new Set();

export const signedIn = () => tokens !== null;
export const onSessionEnd = (callback) => ended.add(callback);

export async function register(username, password) {
  return call("POST", "/v1/auth/register", { username, password }, { anonymous: true });
}

export async function signIn(username, password) {
  keep(await call("POST", "/v1/auth/token", { username, password }, { anonymous: true }));
}

export async function signOut() {
  try {
    if (tokens) await call("POST", "/v1/auth/logout");
  } finally {
    forget();
  }
}

function keep(pair) {
  tokens = { access: pair.access_token, refresh: pair.refresh_token };
  clearTimeout(timer);
  // refresh at four fifths of the lifetime: well before it ends, whatever the clock skew
  timer = setTimeout(() => refresh().catch(() => {}), pair.expires_in * 800);
}

function forget() {
  const had = tokens !== null;
  tokens = null;
  clearTimeout(timer);
  if (had) for (const callback of ended) callback();
}

export async function refresh() {
  if (!tokens) throw new ApiError(401, "unauthorized", "signed out");
  refreshing ??= (async () => {
    try {
      keep(await call("POST", "/v1/auth/refresh", { refresh_token: tokens.refresh }, { anonymous: true }));
    } catch (error) {
      if (error.status === 401) forget();
      throw error;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

function headers(extra = {}) {
  const h = { Accept: "application/json", ...extra };
  if (tokens) h.Authorization = `Bearer ${tokens.access}`;
  return h;
}

// One call: the parsed JSON body (null for 204), or an ApiError with the API's error code and message.
export async function call(method, path, body, { anonymous = false } = {}) {
  const send = () =>
    fetch(path, {
      method,
      headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }),
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
    });
  let response = await send();
  if (response.status === 401 && !anonymous && tokens) {
    await refresh();
    response = await send();
  }
  return parse(response);
}

async function parse(response) {
  if (response.status === 204) return null;
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: said below
  }
  if (response.ok) return body;
  const error = body?.error ?? { code: "http_error", message: `HTTP ${response.status}` };
  const retry = response.headers.get("Retry-After");
  if (response.status === 401 && tokens && !refreshing) forget();
  throw new ApiError(response.status, error.code, error.message, retry === null ? null : Number(retry));
}

// The live stream (GET /v1/stream) with the bearer token in its header, which EventSource cannot send:
// fetch() reads the body as it arrives. Yields {id, event, data} until the server ends the stream.
export async function* stream(lastEventId, signal, Parser) {
  const extra = { Accept: "text/event-stream" };
  if (lastEventId) extra["Last-Event-ID"] = lastEventId;
  let response = await fetch("/v1/stream", { headers: headers(extra), signal, credentials: "omit" });
  if (response.status === 401 && tokens) {
    await refresh();
    response = await fetch("/v1/stream", { headers: headers(extra), signal, credentials: "omit" });
  }
  if (!response.ok) await parse(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const parser = new Parser();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      yield* parser.feed(value);
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}
