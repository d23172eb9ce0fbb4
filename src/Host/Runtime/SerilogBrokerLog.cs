using DetKafka.Core.Abstractions;
using Serilog.Events;

namespace DetKafka.Host.Runtime;

/// <summary>Core's log lines into Serilog. Core's templates are Serilog message templates already.</summary>
public sealed class SerilogBrokerLog(Serilog.ILogger logger) : IBrokerLog
{
    public static LogEventLevel ToSerilog(LogLevel level) => level switch
    {
        LogLevel.Debug => LogEventLevel.Debug,
        LogLevel.Information => LogEventLevel.Information,
        LogLevel.Warning => LogEventLevel.Warning,
        _ => LogEventLevel.Error,
    };

    public bool IsEnabled(LogLevel level) => logger.IsEnabled(ToSerilog(level));

    public void Write(LogLevel level, string template, params object?[] args)
    {
        logger.Write(ToSerilog(level), template, args);
    }
}
