namespace Inference.Grains.Keys;

/// <summary>How much of one quantity (admissions, or tokens) a key's activation may still grant with storage knowing of
/// it. Every write of the key's state carries, next to the windows it holds, a reservation: how much the activation may
/// grant after that write before it writes again. A new activation that finds a reservation (its predecessor crashed,
/// or a second activation lived during a directory's recovery) counts all of it as admitted. So no limit is exceeded
/// across a crash of the key's silo: what is lost is capacity (the unspent part of one reservation, for one window),
/// never exactness. Not thread-safe: only its grain's turns touch it.</summary>
public sealed class GrantReservation
{
    private long _granted;
    private long _covered;

    /// <summary>What may be granted before the next write that reserves more, with <paramref name="overdraft"/> more
    /// allowed beyond what storage knows (while it refuses writes).</summary>
    public long Available(long overdraft) => Math.Max(0, _covered + overdraft - _granted);

    public void Granted(long amount) => _granted += Math.Max(0, amount);

    /// <summary>What a write about to start reserves: at least <paramref name="chunk"/> and <paramref name="wanted"/>,
    /// and never less than what is left of the reservation already written, since grants made while this write is under
    /// way count against it.</summary>
    public Snapshot Take(long chunk, long wanted) => new(_granted, Math.Max(Math.Max(chunk, wanted), Available(0)));

    /// <summary>The write of <paramref name="snapshot"/> succeeded: storage knows every grant up to its start and
    /// reserves the next ones.</summary>
    public void Written(Snapshot snapshot) => _covered = Math.Max(_covered, snapshot.GrantedBefore + snapshot.Reserved);

    public readonly record struct Snapshot(long GrantedBefore, long Reserved);
}
