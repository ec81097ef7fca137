namespace Inference.ApiHost.Realtime;

/// <summary>Section "Realtime": the /ws change stream.</summary>
public sealed class RealtimeOptions
{
    public const string Section = "Realtime";

    /// <summary>Messages a socket may have waiting to be sent. A client that lets this many pile up is too slow
    /// and is disconnected, so each socket holds at most this many events in server memory.</summary>
    public int SendQueueCapacity { get; set; } = 256;

    /// <summary>How often an idle socket gets a JSON heartbeat (and a WebSocket ping).</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Sockets one user (token subject) may hold open on one API host; past it the upgrade is 429.</summary>
    public int MaxSocketsPerUser { get; set; } = 10;

    /// <summary>Sockets one API host holds open in all; past it the upgrade is 503 with Retry-After.</summary>
    public int MaxSocketsPerHost { get; set; } = 10_000;

    /// <summary>How long a too-slow client gets to take the close frame before the connection is dropped.</summary>
    public TimeSpan SlowConsumerCloseTimeout { get; set; } = TimeSpan.FromSeconds(5);

    public string? Problem() =>
        SendQueueCapacity < 1 ? $"{Section}__{nameof(SendQueueCapacity)} must be at least 1"
        : HeartbeatInterval <= TimeSpan.Zero ? $"{Section}__{nameof(HeartbeatInterval)} must be a positive time span"
        : SlowConsumerCloseTimeout <= TimeSpan.Zero ? $"{Section}__{nameof(SlowConsumerCloseTimeout)} must be a positive time span"
        : null;
}
