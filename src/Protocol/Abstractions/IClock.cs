namespace DetKafka.Core.Abstractions;

/// <summary>
/// The only source of time in Core. The host reads the OS clocks; the simulator gives every node its own
/// virtual clock with skew, drift and jumps.
/// </summary>
public interface IClock
{
    /// <summary>Wall-clock milliseconds since the Unix epoch. May jump (NTP, simulated faults): used for record
    /// timestamps (LogAppendTime) and segment.ms roll, never for deadlines.</summary>
    long WallClockMs { get; }

    /// <summary>Milliseconds from an arbitrary origin; never goes backwards. All deadlines use it.</summary>
    long MonotonicMs { get; }
}
