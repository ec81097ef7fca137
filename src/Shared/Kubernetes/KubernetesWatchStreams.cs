namespace Inference.Shared.Kubernetes;

/// <summary>Makes giving up a watch close its connection. KubernetesClient's watch enumerator, when its token is
/// cancelled, stops waiting for its pending read and disposes the response stream while that read is still running:
/// the read's own token comes from a linked source the client disposed when the watch call returned, so nothing
/// cancels it. Disposing an HTTP/1.1 response stream drains it for reuse, concurrently with the abandoned read, and
/// when the server ends the stream meanwhile (a 410 after a compaction, a timeout) the connection goes back to the
/// pool with the abandoned read still receiving on it: the next call sent on that connection reads another response's
/// bytes, or its own answer is swallowed and it waits for its timeout (a model create after the cluster watch changed
/// hands, in the tests). Here every read of a watch's body also listens to a token of this stream's own, cancelled
/// before the stream is disposed: the handler then aborts the read and closes the connection instead of draining it
/// under a reader.</summary>
public sealed class KubernetesWatchStreams : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await base.SendAsync(request, cancellationToken);
        if (!IsWatch(request))
        {
            return response;
        }
        var original = response.Content;
        var content = new StreamContent(new CutOnDisposeStream(await original.ReadAsStreamAsync(cancellationToken)));
        foreach (var header in original.Headers)
        {
            content.Headers.TryAddWithoutValidation(header.Key, header.Value);
        }
        response.Content = content;
        return response;
    }

    /// <summary>The same test as the call metrics' "watch" verb: KubernetesClient always spells it this way.</summary>
    public static bool IsWatch(HttpRequestMessage request) =>
        request.RequestUri?.Query.Contains("watch=true", StringComparison.OrdinalIgnoreCase) == true;

    /// <summary>A read-only stream over a response body whose reads are all aborted when it is disposed.</summary>
    private sealed class CutOnDisposeStream(Stream inner) : Stream
    {
        private readonly CancellationTokenSource _cut = new();

        private int _disposed;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (!cancellationToken.CanBeCanceled)
            {
                return await inner.ReadAsync(buffer, _cut.Token);
            }
            using var either = CancellationTokenSource.CreateLinkedTokenSource(_cut.Token, cancellationToken);
            return await inner.ReadAsync(buffer, either.Token);
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            // A StreamContent disposes its stream both through the stream it hands out and on its own disposal.
            if (disposing && Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                // First the reads under way: their cancellation closes the connection, so the disposal that follows
                // finds nothing to drain.
                _cut.Cancel();
                inner.Dispose();
                _cut.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
