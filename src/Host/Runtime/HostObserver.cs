using System.Diagnostics;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using Serilog.Events;

namespace DetKafka.Host.Runtime;

/// <summary>
/// The host's <see cref="IBrokerObserver"/>: times each request with the host's clock (the token is a
/// <see cref="Stopwatch"/> timestamp), feeds <see cref="BrokerMetrics"/> (when metrics are on) and writes the
/// request log at debug level. With metrics off and the log above debug it only reads the timestamp.
/// </summary>
public sealed class HostObserver(BrokerMetrics? metrics, Serilog.ILogger log) : IBrokerObserver
{
    private readonly bool _requestLog = log.IsEnabled(LogEventLevel.Debug);

    public long RequestStarted(in RequestHeader header, ConnectionId connection) => Stopwatch.GetTimestamp();

    public void RequestCompleted(in RequestHeader header, ConnectionId connection, long token, IKafkaMessage? response)
    {
        var elapsed = Stopwatch.GetElapsedTime(token);
        metrics?.RequestCompleted(header.ApiKey, elapsed.TotalSeconds, response);
        if (_requestLog)
            log.Debug("Request {ApiKey} v{ApiVersion} correlation {CorrelationId} from {ClientId} on {Connection} answered in {ElapsedMs:0.###} ms{NoResponse}",
                header.ApiKey, header.ApiVersion, header.CorrelationId, header.ClientId, connection, elapsed.TotalMilliseconds,
                response is null ? " (no response)" : "");
    }

    public void RecordsAppended(string topic, int partition, int bytes, int records)
        => metrics?.RecordsAppended(topic, partition, bytes, records);
}
