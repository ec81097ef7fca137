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

    /// <summary>How many writes have taken a snapshot (<see cref="Take"/>): a grant made since the last one is in no
    /// stored window, only in the stored reservation.</summary>
    private long _takes;

    /// <summary><see cref="_granted"/> at the last <see cref="Take"/>: refunds never give back what was granted before it.</summary>
    private long _grantedAtTake;

    /// <summary>The period (the clock hour of an hourly limit) of the last write that landed, what it reserved, and how
    /// much of that a new activation reading it counts in a later period.</summary>
    private long _writtenPeriod;
    private long _writtenReserved;
    private long _writtenCarry = long.MaxValue;

    /// <summary>Stamps a grant: pass it back with <see cref="Refunded"/>.</summary>
    public long Mark => _takes;

    /// <summary>What may be granted before the next write that reserves more, with <paramref name="overdraft"/> more
    /// allowed beyond what storage knows (while it refuses writes). In a <paramref name="period"/> other than the last
    /// landed write's, a reservation larger than that write's carry grants nothing: a new activation counts at most the
    /// carry of it in a later period (<see cref="KeyLimiter.AssumeAdmitted"/>), so the grant waits for a write made in
    /// this period.</summary>
    public long Available(long overdraft, long period = 0) =>
        period != _writtenPeriod && _writtenReserved > _writtenCarry ? 0 : Math.Max(0, _covered + overdraft - _granted);

    public void Granted(long amount) => _granted += Math.Max(0, amount);

    /// <summary>Another activation has written the key's state since this one read it: it counted this one's stored
    /// reservation as admitted from its own start, so a grant here from now on could leave that activation's window
    /// after the admission it stands for. Nothing more is granted on what was reserved.</summary>
    public void Stop()
    {
        // As a snapshot would: no refund of a grant made before gives anything back.
        _takes++;
        _grantedAtTake = _granted;
        _covered = Math.Min(_covered, _granted);
    }

    /// <summary>A host gave back <paramref name="amount"/> of a grant stamped <paramref name="mark"/> unspent. When no
    /// write has taken a snapshot since that grant, it is in no stored window: only the stored reservation covers it, and
    /// a new activation would count that whole reservation as admitted, placed no earlier than the grant. What was really
    /// granted since the write is lower by the refund, so it goes back to what may be granted. A grant a snapshot was
    /// taken after stands in that write's windows at its own time and leaves them sooner than a grant made in its place
    /// would: its refund gives nothing back (the next write's windows no longer hold it, which restores the allowance).</summary>
    public void Refunded(long amount, long mark)
    {
        if (mark == _takes && amount > 0)
        {
            _granted = Math.Max(_grantedAtTake, _granted - amount);
        }
    }

    /// <summary>What a write about to start reserves: the larger of <paramref name="chunk"/> and <paramref name="wanted"/>.
    /// Until it lands, grants stay within both it and the last landed write's reservation, since a crash meanwhile
    /// leaves either one stored.</summary>
    public Snapshot Take(long chunk, long wanted)
    {
        _takes++;
        _grantedAtTake = _granted;
        // What the current limits call for, not what is left of an older, larger reservation (limits lowered since, a
        // large request's): grants while this write is under way stay within both it and the last landed write.
        var reserved = Math.Max(chunk, wanted);
        _covered = Math.Min(_covered, _granted + reserved);
        return new(_granted, reserved);
    }

    /// <summary>The write of <paramref name="snapshot"/>, made in <paramref name="period"/>, succeeded: storage knows
    /// every grant up to its start and reserves the next ones, of which a new activation reading it in a later period
    /// counts <paramref name="carry"/> at most.</summary>
    public void Written(Snapshot snapshot, long period = 0, long carry = long.MaxValue)
    {
        _covered = Math.Max(_covered, snapshot.GrantedBefore + snapshot.Reserved);
        _writtenPeriod = period;
        _writtenReserved = snapshot.Reserved;
        _writtenCarry = carry;
    }

    public readonly record struct Snapshot(long GrantedBefore, long Reserved);
}
