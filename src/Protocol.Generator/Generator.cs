using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace DetKafka.Protocol.Generator;

/// <summary>
/// The build step behind "one declaration per message": every <c>*.spec</c> among the compilation's
/// additional files becomes a C# file of message classes, and all of them together give MessageCodec's
/// dispatch (key to decoder, codec version range, first flexible version) and MessageSchema (every field with
/// its versions, which the property tests walk). A spec error is a build error at the spec's line.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class MessageGenerator : IIncrementalGenerator
{
    private static readonly DiagnosticDescriptor SpecInvalid = new(
        "DKP001", "Invalid message spec", "{0}", "DetKafka.Protocol", DiagnosticSeverity.Error, isEnabledByDefault: true);

    private static readonly DiagnosticDescriptor KeyTwice = new(
        "DKP002", "API key declared twice", "API key {0} is declared by {1} and {2}", "DetKafka.Protocol", DiagnosticSeverity.Error, isEnabledByDefault: true);

    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var specs = context.AdditionalTextsProvider
            .Where(t => t.Path.EndsWith(".spec", StringComparison.OrdinalIgnoreCase))
            .Select((t, ct) => Parse(t, ct));

        context.RegisterSourceOutput(specs, (spc, parsed) =>
        {
            if (parsed.Error != null)
            {
                spc.ReportDiagnostic(parsed.Error);
                return;
            }
            string source;
            try
            {
                source = Emitter.Emit(parsed.Api!);
            }
            catch (SpecError e)
            {
                spc.ReportDiagnostic(Diagnostic.Create(SpecInvalid, Location.None, $"{parsed.FileName}: {e.Message}"));
                return;
            }
            spc.AddSource(Path.GetFileNameWithoutExtension(parsed.FileName) + ".g.cs", SourceText.From(source, Encoding.UTF8));
        });

        context.RegisterSourceOutput(specs.Collect(), (spc, all) =>
        {
            var apis = all.Where(p => p.Api != null).Select(p => p.Api!).OrderBy(a => a.Key).ToList();
            for (int i = 1; i < apis.Count; i++)
            {
                if (apis[i].Key == apis[i - 1].Key)
                {
                    spc.ReportDiagnostic(Diagnostic.Create(KeyTwice, Location.None, apis[i].Key, apis[i - 1].FileName, apis[i].FileName));
                    return;
                }
            }
            spc.AddSource("MessageCodec.g.cs", SourceText.From(Tables.Codec(apis), Encoding.UTF8));
            spc.AddSource("MessageSchema.g.cs", SourceText.From(Tables.Schema(apis), Encoding.UTF8));
        });
    }

    private sealed class Parsed
    {
        public string FileName = "";
        public ApiSpec? Api;
        public Diagnostic? Error;
    }

    private static Parsed Parse(AdditionalText text, System.Threading.CancellationToken ct)
    {
        var result = new Parsed { FileName = Path.GetFileName(text.Path) };
        var content = text.GetText(ct);
        if (content == null)
        {
            result.Error = Diagnostic.Create(SpecInvalid, Location.None, $"{result.FileName}: unreadable");
            return result;
        }
        try
        {
            result.Api = SpecParser.Parse(result.FileName, content.ToString());
        }
        catch (SpecError e)
        {
            var line = Math.Max(0, e.Line - 1);
            var span = new LinePositionSpan(new LinePosition(line, 0), new LinePosition(line, 0));
            var location = Location.Create(text.Path, new TextSpan(0, 0), span);
            result.Error = Diagnostic.Create(SpecInvalid, location, $"{result.FileName}:{e.Line}: {e.Message}");
        }
        return result;
    }
}
