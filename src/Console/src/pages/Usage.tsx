import { useEffect, useRef, useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { api, modelPath } from '../api';
import { ErrorMessage } from '../components';

export interface UsageBucket {
  start: string;
  requests: number;
  tokens: number;
  limited: number;
}

export interface UsageHistory {
  window: string;
  bucketSeconds: number;
  buckets: UsageBucket[];
}

/** Requests (and tokens for openai publications) per minute over the last hour or per hour over the last day, with
 * the 429s apart; kept by the key's grain (GET /api/models/{name}/publish/usage). Refreshed on the usage events the
 * key's grain sends when its counters change. */
export function UsagePanel({ name, ns, tenant, tokens }: { name: string; ns?: string; tenant: string; tokens: boolean }) {
  const [window, setWindow] = useState<'1h' | '24h'>('1h');
  const usage = useQuery({
    queryKey: ['usage', tenant, name, window],
    queryFn: () => api.get<UsageHistory>(modelPath(name, ns, `/publish/usage?window=${window}`)),
  });
  const total = usage.data?.buckets.reduce((sum, b) => sum + b.requests, 0) ?? 0;
  const limited = usage.data?.buckets.reduce((sum, b) => sum + b.limited, 0) ?? 0;
  return (
    <section aria-labelledby="usage-heading">
      <div className="snippet-head">
        <h3 id="usage-heading">Usage over time</h3>
        <div role="group" aria-label="Window">
          <button type="button" className="secondary" aria-pressed={window === '1h'} onClick={() => setWindow('1h')}>
            Last hour
          </button>
          <button type="button" className="secondary" aria-pressed={window === '24h'} onClick={() => setWindow('24h')}>
            Last day
          </button>
        </div>
      </div>
      <ErrorMessage error={usage.error} />
      {usage.data ? (
        <>
          <p data-testid="usage-summary">
            {total} requests, {limited} refused with 429 in the {window === '1h' ? 'last hour (per minute)' : 'last day (per hour)'}
          </p>
          <Chart history={usage.data} tokens={tokens} />
          <details>
            <summary>Show as a table</summary>
            <div className="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">From</th>
                    <th scope="col">Requests</th>
                    <th scope="col">429s</th>
                    {tokens ? <th scope="col">Tokens</th> : null}
                  </tr>
                </thead>
                <tbody>
                  {usage.data.buckets
                    .filter((b) => b.requests || b.limited || b.tokens)
                    .map((b) => (
                      <tr key={b.start}>
                        <th scope="row">{new Date(b.start).toLocaleString()}</th>
                        <td>{b.requests}</td>
                        <td>{b.limited}</td>
                        {tokens ? <td>{b.tokens}</td> : null}
                      </tr>
                    ))}
                </tbody>
              </table>
            </div>
          </details>
        </>
      ) : null}
    </section>
  );
}

function Chart({ history, tokens }: { history: UsageHistory; tokens: boolean }) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const xs = history.buckets.map((b) => Date.parse(b.start) / 1000);
    const data: uPlot.AlignedData = [xs, history.buckets.map((b) => b.requests), history.buckets.map((b) => b.limited)];
    const series: uPlot.Series[] = [
      {},
      { label: 'Requests', stroke: '#2563eb', width: 2, fill: 'rgba(37,99,235,0.12)' },
      { label: '429s', stroke: '#dc2626', width: 2 },
    ];
    const axes: uPlot.Axis[] = [{ stroke: 'currentColor' }, { stroke: 'currentColor', label: history.bucketSeconds === 60 ? 'per minute' : 'per hour' }];
    if (tokens) {
      data.push(history.buckets.map((b) => b.tokens));
      series.push({ label: 'Tokens', stroke: '#16a34a', width: 2, scale: 'tokens' });
      axes.push({ scale: 'tokens', side: 1, stroke: 'currentColor', label: 'tokens' });
    }
    const width = Math.max(280, Math.min(el.clientWidth || 640, 960));
    const plot = new uPlot({ width, height: 220, series, axes, scales: { x: { time: true } }, legend: { show: true } }, data, el);
    const resize = () => plot.setSize({ width: Math.max(280, Math.min(el.clientWidth || 640, 960)), height: 220 });
    window.addEventListener('resize', resize);
    return () => {
      window.removeEventListener('resize', resize);
      plot.destroy();
    };
  }, [history, tokens]);
  return <div ref={host} className="chart" role="img" aria-label={`Chart of requests${tokens ? ', tokens' : ''} and 429s; the same figures are in the table below`} data-testid="usage-chart" />;
}
