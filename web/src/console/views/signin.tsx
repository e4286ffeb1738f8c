// The sign-in form: the admin token becomes a session cookie (POST /console/api/session).
import { useRef, useState } from "preact/hooks";
import { signIn } from "../session";

export function SignIn(props: { reason?: string }) {
  const [token, setToken] = useState("");
  const [err, setErr] = useState("");
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  return (
    <main class="center signin">
      <form
        class="card"
        data-testid="signin-form"
        onSubmit={async (e) => {
          e.preventDefault();
          if (!token.trim()) {
            setErr("Enter the admin token.");
            input.current?.focus();
            return;
          }
          setBusy(true);
          setErr("");
          const msg = await signIn(token.trim());
          setBusy(false);
          if (msg) {
            setErr(msg);
            input.current?.focus();
          }
        }}
      >
        <h1>nagare console</h1>
        {props.reason && !err && <p class="note">{props.reason}</p>}
        <label for="signin-token">Admin token</label>
        <input
          id="signin-token"
          ref={input}
          type="password"
          name="token"
          autocomplete="current-password"
          autoFocus
          value={token}
          onInput={(e) => setToken(e.currentTarget.value)}
          data-testid="signin-token"
          aria-invalid={err ? "true" : undefined}
          aria-describedby={err ? "signin-error" : undefined}
        />
        {err && (
          <p class="error" id="signin-error" role="alert" data-testid="signin-error">
            {err}
          </p>
        )}
        <button type="submit" class="primary" disabled={busy} data-testid="signin-submit">
          {busy ? "Signing in…" : "Sign in"}
        </button>
        <p class="hint">
          The admin token is printed by <code>nagare all</code> and set in the manager's configuration.
        </p>
      </form>
    </main>
  );
}
