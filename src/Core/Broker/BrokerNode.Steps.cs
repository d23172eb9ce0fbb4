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
