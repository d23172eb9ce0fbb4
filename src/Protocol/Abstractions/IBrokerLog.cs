namespace DetKafka.Core.Abstractions;

public enum LogLevel { Debug, Information, Warning, Error }

/// <summary>
/// Structured log lines out of Core. Templates follow Serilog's message-template syntax so the host can pass
/// them straight through; the simulator records them in the trace.
/// </summary>
public interface IBrokerLog
{
    bool IsEnabled(LogLevel level);
    void Write(LogLevel level, string template, params object?[] args);
}

public static class BrokerLogExtensions
{
    public static void Debug(this IBrokerLog log, string template, params object?[] args)
    {
        if (log.IsEnabled(LogLevel.Debug)) log.Write(LogLevel.Debug, template, args);
    }

    public static void Info(this IBrokerLog log, string template, params object?[] args)
    {
        if (log.IsEnabled(LogLevel.Information)) log.Write(LogLevel.Information, template, args);
    }

    public static void Warn(this IBrokerLog log, string template, params object?[] args)
    {
        if (log.IsEnabled(LogLevel.Warning)) log.Write(LogLevel.Warning, template, args);
    }

    public static void Error(this IBrokerLog log, string template, params object?[] args)
    {
        if (log.IsEnabled(LogLevel.Error)) log.Write(LogLevel.Error, template, args);
    }
}

/// <summary>Discards everything (benchmarks, tests that do not look at logs).</summary>
public sealed class NullBrokerLog : IBrokerLog
{
    public static readonly NullBrokerLog Instance = new();
    public bool IsEnabled(LogLevel level) => false;
    public void Write(LogLevel level, string template, params object?[] args) { }
}
