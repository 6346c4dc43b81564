// Fjord's control-plane SDK for TypeScript and JavaScript.
//
// The request and response types come from `schema.ts`, generated from openapi/openapi.json by
// openapi-typescript (`bash openapi/generate.sh`); openapi-fetch turns them into a typed
// `fetch` client, so a call to a path, with parameters or a body the spec does not have, is a
// compile error. Nothing here is per-route: routes added to the spec appear after regenerating.
//
//   const fjord = createFjordClient({ baseUrl: "http://127.0.0.1:8080" });
//   await fjord.login(apiKey);
//   const { data, error } = await fjord.GET("/v1/tenants/{tenant_id}/clusters",
//     { params: { path: { tenant_id } } });

import createClient, { type Client, type ClientOptions } from "openapi-fetch";

import type { components, operations, paths } from "./schema.js";

export type { components, operations, paths };
/** A schema of the spec by name, e.g. `Schema<"Cluster">`. */
export type Schema<Name extends keyof components["schemas"]> = components["schemas"][Name];
/** An RFC 9457 problem, the body of every error response. */
export type Problem = Schema<"Problem">;

/** An error response, thrown by {@link FjordClient.login} and {@link unwrap}. */
export class FjordApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem | undefined,
  ) {
    super(problem ? `${status} ${problem.title}: ${problem.detail}` : `HTTP ${status}`);
    this.name = "FjordApiError";
  }
}

/** The typed client, with the token set by `login` sent on every request. */
export type FjordClient = Client<paths> & {
  /** Exchanges an API key (`fjk_…`) for an access token used by every later request. */
  login(apiKey: string): Promise<Schema<"TokenResponse">>;
  /** Uses this access token for every later request. */
  setToken(token: string | undefined): void;
};

export function createFjordClient(options: ClientOptions & { token?: string }): FjordClient {
  const { token: initial, ...rest } = options;
  const client = createClient<paths>(rest);
  let token = initial;
  client.use({
    onRequest({ request }) {
      if (token) request.headers.set("authorization", `Bearer ${token}`);
      return request;
    },
  });
  return Object.assign(client, {
    async login(apiKey: string) {
      const answer = await client.POST("/v1/auth/token", { body: { api_key: apiKey } });
      const body = unwrap(answer);
      token = body.access_token;
      return body;
    },
    setToken(value: string | undefined) {
      token = value;
    },
  });
}

/** The body of a successful answer, or throws {@link FjordApiError} with the problem. */
export function unwrap<T>(answer: { data?: T; error?: unknown; response: Response }): T {
  if (answer.error !== undefined || !answer.response.ok) {
    throw new FjordApiError(answer.response.status, answer.error as Problem | undefined);
  }
  return answer.data as T;
}
