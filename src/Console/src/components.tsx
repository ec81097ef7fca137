import { useEffect, useId, useRef, useState, type ReactNode } from 'react';
import { ApiError } from './api';

export function fieldOf(error: unknown): string | undefined {
  return error instanceof ApiError ? error.field?.split('.').pop() : undefined;
}

/** The API's {error, details} as a message (role=alert: read out by screen readers when it appears). */
export function ErrorMessage({ error, prefix }: { error: unknown; prefix?: string }) {
  if (!error) return null;
  const text =
    error instanceof ApiError
      ? `${error.status === 403 ? 'Not allowed' : `Error ${error.status}`}: ${error.error}${error.details ? `: ${error.details}` : ''}`
      : error instanceof Error ? error.message : String(error);
  return (
    <p className="error" role="alert">
      {prefix ? `${prefix}: ` : ''}
      {text}
    </p>
  );
}

export function Field(props: {
  label: string;
  name: string;
  value: string;
  onChange: (value: string) => void;
  error?: string;
  hint?: string;
  type?: string;
  options?: string[];
  required?: boolean;
  disabled?: boolean;
}) {
  const id = useId();
  const described = [props.error ? `${id}-error` : '', props.hint ? `${id}-hint` : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div className="field">
      <label htmlFor={id}>
        {props.label}
        {props.required ? ' (required)' : ''}
      </label>
      {props.options ? (
        <select id={id} name={props.name} value={props.value} onChange={(e) => props.onChange(e.target.value)} aria-invalid={!!props.error} aria-describedby={described} disabled={props.disabled}>
          {props.options.map((o) => (
            <option key={o} value={o}>
              {o || '(default)'}
            </option>
          ))}
        </select>
      ) : (
        <input id={id} name={props.name} type={props.type ?? 'text'} value={props.value} onChange={(e) => props.onChange(e.target.value)} aria-invalid={!!props.error} aria-describedby={described} required={props.required} disabled={props.disabled} autoComplete="off" spellCheck={false} />
      )}
      {props.hint ? (
        <small id={`${id}-hint`} className="hint">
          {props.hint}
        </small>
      ) : null}
      {props.error ? (
        <small id={`${id}-error`} className="field-error">
          {props.error}
        </small>
      ) : null}
    </div>
  );
}

export function CopyButton({ text, label }: { text: string; label: string }) {
  const [copied, setCopied] = useState<'idle' | 'done' | 'failed'>('idle');
  return (
    <button
      type="button"
      className="secondary"
      onClick={() => {
        navigator.clipboard.writeText(text).then(
          () => setCopied('done'),
          () => setCopied('failed'),
        );
      }}
    >
      {label}
      <span aria-live="polite" className="copy-state">
        {copied === 'done' ? ' ✓ copied' : copied === 'failed' ? ' (copy failed: select the text)' : ''}
      </span>
    </button>
  );
}

/** A modal dialog (the platform's <dialog>: focus moves in, Escape closes, the page behind is inert). */
export function Dialog({ title, open, onClose, children }: { title: string; open: boolean; onClose: () => void; children: ReactNode }) {
  const ref = useRef<HTMLDialogElement>(null);
  const id = useId();
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);
  return (
    <dialog ref={ref} aria-labelledby={id} onClose={onClose}>
      <div className="dialog-head">
        <h2 id={id}>{title}</h2>
        <button type="button" className="secondary" onClick={onClose} aria-label={`Close ${title}`}>
          ✕
        </button>
      </div>
      {open ? children : null}
    </dialog>
  );
}

export function age(iso: string | undefined | null, now = Date.now()): string {
  if (!iso) return '';
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}

export function StatusBadge({ status, ready }: { status: string; ready: boolean }) {
  return <span className={`badge status-${ready ? 'ready' : status.toLowerCase()}`}>{status}</span>;
}
