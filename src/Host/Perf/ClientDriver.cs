using DetKafka.Core.Abstractions;
using DetKafka.Core.Client;
using DetKafka.Host.Runtime;

namespace DetKafka.Host.Perf;

/// <summary>
/// One thread's Kafka client: a <see cref="KafkaClient"/> over its own <see cref="SocketClientNetwork"/> and the
/// real clock. The owner thread calls <see cref="Step"/> in a loop; the client's timers (request timeouts,
/// reconnects, metadata refresh, linger) bound each wait.
/// </summary>
public sealed class ClientDriver : IDisposable
{
    public ClientDriver(KafkaClientOptions options, ulong seed, int readBufferBytes = 256 * 1024)
    {
        Network = new SocketClientNetwork(readBufferBytes);
        Client = new KafkaClient(options, Clock, Network, new SeededRandom(seed));
        Network.Attach(Client);
    }

    public IClock Clock { get; } = new RealClock();
    public KafkaClient Client { get; }
    public SocketClientNetwork Network { get; }

    /// <summary>Runs due client timers, then waits for the network at most <paramref name="maxWaitMicros"/> (less
    /// when a client timer is due sooner) and delivers what arrived.</summary>
    public void Step(long maxWaitMicros)
    {
        long now = Clock.MonotonicMs;
        long deadline = Client.NextDeadlineMs;
        if (deadline <= now)
        {
            Client.Poll();
            now = Clock.MonotonicMs;
            deadline = Client.NextDeadlineMs;
        }
        // The client's clock counts whole milliseconds: a deadline that is still "now" after Poll waits a little
        // rather than spinning.
        long wait = deadline == long.MaxValue ? maxWaitMicros : Math.Clamp((deadline - now) * 1000, 200, Math.Max(200, maxWaitMicros));
        Network.RunOnce(Math.Min(wait, maxWaitMicros));
    }

    /// <summary>Polls the client at once and writes what it queued: after the owner gave it work (a batch to send).</summary>
    public void PollNow()
    {
        Client.Poll();
        Network.Flush();
    }

    /// <summary>Steps until <paramref name="done"/> holds; false if <paramref name="timeoutMs"/> passed first.</summary>
    public bool RunUntil(Func<bool> done, int timeoutMs)
    {
        long until = Clock.MonotonicMs + timeoutMs;
        while (!done())
        {
            if (Clock.MonotonicMs >= until) return false;
            Step(10_000);
        }
        return true;
    }

    public void Dispose()
    {
        Client.Close();
        Network.Flush();
        Network.Dispose();
    }
}
