using Inference.Grains.Keys;

namespace Inference.Grains.Tests;

/// <summary>The reservation's arithmetic: what a refund gives back, and what is carried into a later hour. Whatever it
/// allows must stay within what a new activation counts after a crash: the stored reservation (all of it in the hour of
/// the write, at most a carry in a later one).</summary>
public sealed class GrantReservationTests
{
    private static GrantReservation Written(long chunk, long wanted = 0, long period = 0)
    {
        var reservation = new GrantReservation();
        reservation.Written(reservation.Take(chunk, wanted), period, carry: chunk);
        return reservation;
    }

    [Fact]
    public void A_refund_of_a_grant_made_since_the_last_write_goes_back_to_the_reservation_never_beyond_it()
    {
        var reservation = Written(10);
        reservation.Granted(6);
        var mark = reservation.Mark;
        reservation.Refunded(4, mark);
        Assert.Equal(8, reservation.Available(0));
        // Refunds are clamped: no more comes back than was granted since the write.
        reservation.Refunded(100, mark);
        Assert.Equal(10, reservation.Available(0));
    }

    [Fact]
    public void A_reservation_another_activation_has_counted_grants_nothing_more()
    {
        var reservation = Written(10);
        reservation.Granted(3);
        var mark = reservation.Mark;
        reservation.Stop();
        Assert.Equal(0, reservation.Available(0));
        // Nor does a refund of what it granted before reopen it.
        reservation.Refunded(3, mark);
        Assert.Equal(0, reservation.Available(0));
    }

    [Fact]
    public void A_write_after_lowered_limits_reserves_the_new_chunk_and_grants_meanwhile_stay_within_it()
    {
        var reservation = Written(250);
        // The limits were lowered: the next write reserves a chunk of the new ones, and until it lands grants stay
        // within it (a crash meanwhile may leave either write stored).
        var snapshot = reservation.Take(10, 0);
        Assert.Equal(10, snapshot.Reserved);
        Assert.Equal(10, reservation.Available(0));
        reservation.Written(snapshot);
        Assert.Equal(10, reservation.Available(0));
    }

    [Fact]
    public void A_refund_of_a_grant_a_write_has_taken_since_gives_nothing_back()
    {
        var reservation = Written(10);
        reservation.Granted(6);
        var mark = reservation.Mark;
        // A write takes its snapshot (windows holding the grant at its own time) and is still under way, or landed;
        // a grant made after it is covered by the reservation alone, and the refund of the older one must not free it.
        var snapshot = reservation.Take(10, 0);
        reservation.Granted(3);
        reservation.Refunded(6, mark);
        Assert.Equal(1, reservation.Available(0));
        reservation.Written(snapshot);
        Assert.Equal(7, reservation.Available(0));
    }

    [Fact]
    public void A_reservation_larger_than_the_carry_grants_nothing_in_a_later_period_until_a_write_there()
    {
        const long hour = TimeSpan.TicksPerHour;
        var big = Written(100, wanted: 300, period: 12 * hour);
        Assert.Equal(300, big.Available(0, 12 * hour));
        Assert.Equal(0, big.Available(0, 13 * hour));
        Assert.Equal(0, big.Available(100, 13 * hour)); // no overdraft either
        big.Written(big.Take(100, 0), 13 * hour, carry: 100);
        // Written in that hour: what that write reserved (a chunk), not the rest of the larger one before it.
        Assert.Equal(100, big.Available(0, 13 * hour));

        // A reservation within the carry is carried into the next hour as it is.
        var chunk = Written(100, period: 12 * hour);
        Assert.Equal(100, chunk.Available(0, 13 * hour));
    }
}
