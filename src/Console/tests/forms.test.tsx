import { afterEach, describe, expect, test, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { ApiError } from '../src/api';
import { ModelFormView } from '../src/pages/Models';
import { emptyModelForm } from '../src/validation';

afterEach(cleanup);

function renderForm(submit: (body: Record<string, unknown>) => Promise<unknown>) {
  const client = new QueryClient({ defaultOptions: { mutations: { retry: false } } });
  render(
    <QueryClientProvider client={client}>
      <ModelFormView initial={emptyModelForm} creating tenant="tenant-a" askTenant={false} submit={submit} submitLabel="Create" />
    </QueryClientProvider>,
  );
}

describe('the model form', () => {
  test('shows its own check next to the field and sends nothing', async () => {
    const submit = vi.fn(() => Promise.resolve({}));
    renderForm(submit);
    fireEvent.change(screen.getByLabelText('Name (required)'), { target: { value: 'Bad_Name' } });
    fireEvent.click(screen.getByRole('button', { name: 'Create' }));
    const name = screen.getByLabelText('Name (required)');
    expect(name.getAttribute('aria-invalid')).toBe('true');
    const described = name.getAttribute('aria-describedby')!.split(' ');
    expect(described.map((id) => document.getElementById(id)?.textContent).join(' ')).toMatch(/lowercase DNS label/);
    expect(screen.getByLabelText('Storage URI (required)').getAttribute('aria-invalid')).toBe('true');
    expect(submit).not.toHaveBeenCalled();
  });

  test("shows the API's {error, details} next to the field it names", async () => {
    const submit = vi.fn(() => Promise.reject(new ApiError(400, 'Invalid request format', "Field 'storageUri' must not name a loopback address ('127.0.0.1')")));
    renderForm(submit);
    fireEvent.change(screen.getByLabelText('Name (required)'), { target: { value: 'iris' } });
    fireEvent.change(screen.getByLabelText('Storage URI (required)'), { target: { value: 'https://127.0.0.1/m' } });
    fireEvent.click(screen.getByRole('button', { name: 'Create' }));
    await waitFor(() => expect(screen.getByLabelText('Storage URI (required)').getAttribute('aria-invalid')).toBe('true'));
    expect((submit.mock.calls[0] as unknown[])[0]).toEqual({ name: 'iris', framework: 'sklearn', storageUri: 'https://127.0.0.1/m', minReplicas: 1, maxReplicas: 1 });
    expect(screen.getByRole('alert').textContent).toContain('Invalid request format');
    expect(screen.getByText(/must not name a loopback address/, { selector: '.field-error' })).toBeTruthy();
  });
});
