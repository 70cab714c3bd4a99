// A client written against the types openapi-typescript generates from
// the edge's OpenAPI document: it registers, logs in and reads its profile
// through openapi-fetch. `tsc --noEmit` checks every path, body and answer
// member used here against the document; the run checks the stack answers
// as typed. Usage: node main.js BASE_URL
import createClient from "openapi-fetch";
import type { paths } from "./api.js";

// The one Node.js global used (no @types/node needed).
declare const process: { argv: string[]; exitCode?: number };

const baseUrl = process.argv[2];
if (!baseUrl) {
  throw new Error("usage: main.js BASE_URL");
}
const client = createClient<paths>({ baseUrl });

function expect(what: string, ok: boolean, detail: unknown): void {
  if (!ok) {
    throw new Error(`${what}: ${JSON.stringify(detail)}`);
  }
  console.log(`ok: ${what}`);
}

const username = `typed_${Date.now().toString(36)}`;
const password = "correct horse battery staple";

const reg = await client.POST("/register", {
  body: { username, email: `${username}@example.com`, password },
});
expect("POST /register is 201", reg.response.status === 201, reg.error);
const userId: string | undefined = reg.data?.user?.id;
expect("with the new user's id", typeof userId === "string" && userId.length > 0, reg.data);

const login = await client.POST("/login", { body: { username, password } });
expect("POST /login is 200", login.response.status === 200, login.error);
const token: string | undefined = login.data?.access_token;
expect("with an access token", typeof token === "string" && token.length > 0, login.data);
expect("of type Bearer", login.data?.token_type === "Bearer", login.data);

const profile = await client.GET("/profile", {
  headers: { Authorization: `Bearer ${token}` },
});
expect("GET /profile is 200", profile.response.status === 200, profile.error);
expect("the profile is the new user's", profile.data?.profile?.user_id === userId &&
  profile.data?.profile?.username === username, profile.data);
expect("with an ETag", profile.response.headers.get("etag") !== null, null);

// A typed error: the document's problem schema.
const anonymous = await client.GET("/profile");
expect("GET /profile without a token is 401", anonymous.response.status === 401, anonymous.data);
expect("with a problem body", anonymous.error?.status === 401, anonymous.error);
console.log("typed client: registered, logged in and read the profile");
