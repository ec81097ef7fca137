import { useState, type FormEvent } from 'react';
import { api } from '../api';
import { ErrorMessage, Field } from '../components';
import { decodeToken, isExpired } from '../session';

export function SignIn({ onSignedIn, notice }: { onSignedIn: (token: string) => void; notice: string | null }) {
  const [username, setUsername] = useState('admin');
  const [password, setPassword] = useState('');
  const [pasted, setPasted] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [tokenError, setTokenError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);

  const login = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const answer = await api.post<{ token: string }>('/api/admin/login', { username, password });
      onSignedIn(answer.token);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const useToken = (e: FormEvent) => {
    e.preventDefault();
    const token = pasted.trim().replace(/^Bearer\s+/i, '');
    const user = decodeToken(token);
    if (!user) return setTokenError('This is not a token (three base64url parts separated by dots).');
    if (isExpired(user)) return setTokenError('This token has expired.');
    setTokenError(undefined);
    onSignedIn(token);
  };

  return (
    <main className="signin" id="main">
      <h1>Inference-in-a-Box console</h1>
      {notice ? (
        <p className="notice" role="status">
          {notice}
        </p>
      ) : null}
      <div className="signin-forms">
        <form onSubmit={login} aria-labelledby="admin-signin">
          <h2 id="admin-signin">Administrator</h2>
          <Field label="Username" name="username" value={username} onChange={setUsername} required />
          <Field label="Password" name="password" type="password" value={password} onChange={setPassword} required />
          <ErrorMessage error={error} />
          <button type="submit" disabled={busy}>
            Sign in
          </button>
        </form>
        <form onSubmit={useToken} aria-labelledby="token-signin">
          <h2 id="token-signin">Tenant token</h2>
          <Field label="Token" name="token" value={pasted} onChange={setPasted} error={tokenError} hint="Paste a JWT from your identity system (or ./box token tenant-a)." required />
          <button type="submit">Use token</button>
        </form>
      </div>
    </main>
  );
}
