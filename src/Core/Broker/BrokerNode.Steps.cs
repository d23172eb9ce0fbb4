using DetKafka.Core.Util;

namespace DetKafka.Core.Broker;

// The end of an input step. An input (bytes, a sync completion, Poll, ...) changes state and answers what it can;
// what that makes possible runs here, after it, never inside an answer: first the waiters of every key that
// advanced (the purgatory's keyed retries), then the next buffered requests of every connection an answer freed
// (in the order they were freed). Each may free more of the other, so the two alternate until neither has work.
public sealed partial class BrokerNode
{
    private readonly List<BrokerConnection> _resume = new();

    /// <summary>An answer freed an in-flight slot of <paramref name="connection"/>, which has requests buffered.</summary>
    internal void ScheduleResume(BrokerConnection connection)
    {
        if (connection.ResumeScheduled) return;
        connection.ResumeScheduled = true;
        _resume.Add(connection);
    }

    private void EndStep()
    {
        // Each round answers a waiting request or runs a buffered one, both bounded.
        for (int round = 0; ; round++)
        {
            Check.That(round <= Config.MaxConnections * (Config.MaxInFlightRequestsPerConnection + 1) + 1, "an input step ends");
            AfterQuorumStep();
            if (_replicatedSeen.Count > 0) MarkReplicatedAdvanced();
            bool worked = _started && Purgatory.RetryAdvanced();
            if (_resume.Count > 0)
            {
                worked = true;
                // A resumed request may free another connection: appended, and resumed in this pass.
                for (int i = 0; i < _resume.Count; i++)
                {
                    var connection = _resume[i];
                    connection.ResumeScheduled = false;
                    connection.ProcessFrames();
                }
                _resume.Clear();
            }
            if (!worked) return;
        }
    }
}

public sealed partial class BrokerNode
{
    /// <summary>This node's pool for the buffers that outlive one call (a large request being gathered, a response
    /// held behind an unanswered one). Per node, not the runtime's shared pool, so nodes in one process (the
    /// simulator, tests) never hand each other an array: a use after return stays within the node that made it.
    /// Buffers rented and returned within one call (codecs, the response writer, segment reads) still use the
    /// shared pool.</summary>
    internal System.Buffers.ArrayPool<byte> Buffers { get; } = System.Buffers.ArrayPool<byte>.Create(BufferPoolArrayMax, 16);

    /// <summary>Largest array the node's pool keeps (larger requests are allocated and left to the GC).</summary>
    private const int BufferPoolArrayMax = 128 * 1024 * 1024;
}
