import { createContext, useContext, useEffect, useRef, useState, type ReactNode } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { backoffMs, modelsReducer, type Connection, type ModelsState } from './events';
import type { LiveEvent } from './types';

const LiveContext = createContext<Connection>({ state: 'connecting', attempt: 0 });

export function useConnection(): Connection {
  return useContext(LiveContext);
}

/** One /ws socket for the signed-in user. Model events update the cached tables in place; other events refresh
 * what they affect. On every (re)connect, once the server says `subscribed`, everything is re-read over REST, as the
 * /ws contract asks (events are live, not replayed). */
export function LiveProvider({ token, onExpired, children }: { token: string; onExpired: () => void; children: ReactNode }) {
  const queryClient = useQueryClient();
  const [connection, setConnection] = useState<Connection>({ state: 'connecting', attempt: 0 });
  const expired = useRef(onExpired);
  expired.current = onExpired;

  useEffect(() => {
    let socket: WebSocket | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let attempt = 0;
    let stopped = false;

    const connect = () => {
      const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
      socket = new WebSocket(`${scheme}://${window.location.host}/ws?access_token=${encodeURIComponent(token)}`);
      setConnection(attempt === 0 ? { state: 'connecting', attempt } : { state: 'reconnecting', attempt, retryInMs: 0 });
      socket.onmessage = (message) => {
        let event: LiveEvent;
        try {
          event = JSON.parse(String(message.data)) as LiveEvent;
        } catch {
          return;
        }
        if (event.type === 'subscribed') {
          attempt = 0;
          setConnection({ state: 'connected' });
          void queryClient.invalidateQueries();
          return;
        }
        if (event.type === 'heartbeat') return;
        if (event.type.startsWith('model.') && event.kind === 'model') {
          for (const [key, state] of queryClient.getQueriesData<ModelsState>({ queryKey: ['models'] })) {
            if (state) queryClient.setQueryData(key, modelsReducer(state, event, String(key[1] ?? '')));
          }
          if (event.name) void queryClient.invalidateQueries({ queryKey: ['model', event.tenant, event.name] });
        }
        if (event.type.startsWith('model.published') || event.type.startsWith('model.publication') || event.type === 'model.unpublished' || event.type === 'apikey.rotated') {
          void queryClient.invalidateQueries({ queryKey: ['publication'] });
          void queryClient.invalidateQueries({ queryKey: ['published'] });
        }
        if (event.type === 'usage.summary') {
          void queryClient.invalidateQueries({ queryKey: ['usage'] });
          void queryClient.invalidateQueries({ queryKey: ['publication'] });
        }
      };
      socket.onclose = (close) => {
        if (stopped) return;
        if (close.code === 1008 && /expired/i.test(close.reason)) {
          setConnection({ state: 'signed-out' });
          expired.current();
          return;
        }
        attempt += 1;
        const wait = backoffMs(attempt);
        setConnection({ state: 'reconnecting', attempt, retryInMs: wait });
        timer = setTimeout(connect, wait);
      };
    };
    connect();
    return () => {
      stopped = true;
      clearTimeout(timer);
      socket?.close();
    };
  }, [token, queryClient]);

  return <LiveContext.Provider value={connection}>{children}</LiveContext.Provider>;
}

export function ConnectionBadge() {
  const c = useConnection();
  const text =
    c.state === 'connected' ? 'Live: connected'
    : c.state === 'connecting' ? 'Live: connecting…'
    : c.state === 'reconnecting' ? (c.retryInMs > 0 ? `Live: reconnecting in ${(c.retryInMs / 1000).toFixed(1)} s (attempt ${c.attempt})…` : `Live: reconnecting (attempt ${c.attempt})…`)
    : 'Live: signed out';
  return (
    <span
      className={`badge live-${c.state}`}
      role="status"
      aria-live="polite"
      data-testid="connection"
      data-attempt={c.state === 'reconnecting' ? c.attempt : undefined}
      data-retry-ms={c.state === 'reconnecting' ? c.retryInMs : undefined}
    >
      {text}
    </span>
  );
}
