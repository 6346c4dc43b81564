// The console's only way to the server: the public REST API of this origin, with the
// bearer token from POST /v1/auth/token. Problems (RFC 9457) become ApiProblem errors that
// carry the server's `detail`; a 401 ends the session and returns to sign-in.

const SESSION_KEY = "fjord.session";

/** An error answered by the API (problem+json), or a network failure (status 0). */
export class ApiProblem extends Error {
  constructor(status, title, detail, type) {
    super(detail || title || `HTTP ${status}`);
    this.status = status;
    this.title = title || `HTTP ${status}`;
    this.detail = detail || "";
    this.type = type || "";
  }
}

/** The claims of a JWT (not verified here: the server verifies every request). */
export function decodeClaims(token) {
  const part = token.split(".")[1] || "";
  const base64 = part.replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
  const json = new TextDecoder().decode(Uint8Array.from(atob(padded), (c) => c.charCodeAt(0)));
  return JSON.parse(json);
}

/** The signed-in session, or null. Kept in sessionStorage: it ends with the tab. */
export function session() {
  try {
    const raw = sessionStorage.getItem(SESSION_KEY);
    return raw ? JSON.parse(raw) : null;
  } catch {
    return null;
  }
}

export function saveSession(token) {
  const claims = decodeClaims(token);
  const s = { token, tenant: claims.tenant || null, role: claims.role, sub: claims.sub, exp: claims.exp };
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(s));
  return s;
}

export function clearSession() {
  sessionStorage.removeItem(SESSION_KEY);
}

let onUnauthorized = () => {};
/** What to do when the API answers 401 (the app returns to sign-in). */
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

/** Exchanges an API key for a token and starts a session. */
export async function signIn(apiKey) {
  const body = await call("POST", "/v1/auth/token", { api_key: apiKey }, { anonymous: true });
  return saveSession(body.access_token);
}

/**
 * One API call. Resolves with the JSON body (null for 204), rejects with ApiProblem.
 * `opts.anonymous` sends no token and does not treat 401 as an expired session.
 */
export async function call(method, path, body, opts = {}) {
  const headers = { accept: "application/json, application/problem+json" };
  const s = session();
  if (!opts.anonymous) {
    if (!s) {
      onUnauthorized("Sign in to continue.");
      throw new ApiProblem(401, "Unauthorized", "not signed in");
    }
    headers.authorization = `Bearer ${s.token}`;
  }
  if (body !== undefined) headers["content-type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
  } catch (e) {
    throw new ApiProblem(0, "Network error", `The server could not be reached (${e.message}).`);
  }
  const text = await response.text();
  let json = null;
  if (text) {
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
  }
  if (response.ok) return json;
  const problem = new ApiProblem(
    response.status,
    json && json.title,
    (json && json.detail) || text.slice(0, 300),
    json && json.type,
  );
  if (response.status === 401 && !opts.anonymous) {
    clearSession();
    onUnauthorized("Your session has expired or is no longer valid. Sign in again.");
  }
  throw problem;
}

export const get = (path) => call("GET", path);
export const post = (path, body) => call("POST", path, body ?? {});
export const patch = (path, body) => call("PATCH", path, body);
export const del = (path) => call("DELETE", path);

/** Every item of a cursor-paginated list (bounded to `max` items). */
export async function all(path, max = 1000) {
  const items = [];
  let cursor = null;
  do {
    const sep = path.includes("?") ? "&" : "?";
    const page = await get(cursor ? `${path}${sep}cursor=${encodeURIComponent(cursor)}` : path);
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && items.length < max);
  return items;
}

/** Percent-encodes one path segment. */
export const seg = (s) => encodeURIComponent(s);
