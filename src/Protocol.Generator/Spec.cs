using System;
using System.Collections.Generic;
using System.Globalization;

namespace DetKafka.Protocol.Generator;

/// <summary>An inclusive version range; <see cref="Max"/> is short.MaxValue for "and every later one".</summary>
internal readonly struct VersionRange
{
    public VersionRange(short min, short max)
    {
        Min = min;
        Max = max;
    }

    public short Min { get; }
    public short Max { get; }
    public bool IsOpen => Max == short.MaxValue;

    public static readonly VersionRange All = new(0, short.MaxValue);
    public static readonly VersionRange None = new(short.MaxValue, -1);
    public bool IsEmpty => Min > Max;

    public VersionRange Intersect(VersionRange other)
        => new(Math.Max(Min, other.Min), Math.Min(Max, other.Max));

    public bool Contains(VersionRange other) => other.IsEmpty || (Min <= other.Min && other.Max <= Max);

    public override string ToString() => IsEmpty ? "none" : IsOpen ? $"v{Min}+" : Min == Max ? $"v{Min}" : $"v{Min}-{Max}";
}

/// <summary>The primitive wire types of the Kafka protocol that a spec may name.</summary>
internal enum Primitive
{
    Bool, Int8, Int16, UInt16, Int32, UInt32, Int64, Float64, Uuid, String, Bytes, Records, Struct,
}

internal sealed class FieldSpec
{
    public string Name = "";
    public Primitive Type;
    public bool IsArray;

    /// <summary>For a struct (or array of structs): the C# class name. For enum-typed integers: the enum.</summary>
    public string? TypeName;

    /// <summary>A struct declared by another spec (<c>Message.Struct</c>): read and written by its own code.</summary>
    public bool IsReference;
    public VersionRange Versions = VersionRange.All;
    public VersionRange NullableVersions = VersionRange.None;
    public int Tag = -1;
    public string? Default;
    public string? Doc;
    public readonly List<FieldSpec> Children = new();
    public int Line;

    public bool IsTagged => Tag >= 0;
    public bool NullableAnywhere => !NullableVersions.IsEmpty;
    public bool IsStructLike => Type == Primitive.Struct;
}

internal sealed class ConstSpec
{
    public string Name = "";
    public Primitive Type;
    public string? TypeName;
    public string Value = "";
    public string? Doc;
}

internal sealed class MessageSpec
{
    public bool IsRequest;
    public string ClassName = "";
    public readonly List<string> Doc = new();
    public readonly List<FieldSpec> Fields = new();
    public readonly List<ConstSpec> Consts = new();
}

internal sealed class ApiSpec
{
    public string FileName = "";
    public short Key;
    public string Name = "";
    public VersionRange Versions;
    public short FirstFlexible = short.MaxValue;
    public readonly List<string> Doc = new();
    public MessageSpec? Request;
    public MessageSpec? Response;
}

internal sealed class SpecError : Exception
{
    public SpecError(int line, string message) : base(message) => Line = line;
    public int Line { get; }
}

/// <summary>
/// Reads the message spec format (docs/design/PROTOCOL.md, "Message specs"). One file per API key:
/// <code>
/// # comment lines: the API's behaviour and version notes (copied into the generated class header)
/// api 0 Produce versions 0-9 flexible 9+
/// request ProduceRequest
///   TransactionalId  string?  v3+
///   TopicData        []TopicProduceData
///     Name           string
/// response ProduceResponse
///   ...
/// </code>
/// A field line is <c>Name Type [vA | vA+ | vA-B] [nullable vA+] [tag N] [= default] [# doc]</c>; indentation
/// (two spaces a level) nests a struct's fields under the field that declares it.
/// </summary>
internal static class SpecParser
{
    /// <summary>Members every generated class has; a field cannot take their names.</summary>
    private static readonly string[] ReservedNames =
        { "Read", "ReadFrom", "Write", "WriteTo", "Reset", "IsAllDefault", "AfterRead", "UnknownTaggedFields", "VisitErrorCodes" };

    public static ApiSpec Parse(string fileName, string text)
    {
        var api = new ApiSpec { FileName = fileName };
        bool sawApi = false;
        MessageSpec? current = null;
        // The open structs: stack[i] is the field whose children sit at indentation level i + 1.
        var stack = new List<FieldSpec>();
        var pendingDoc = new List<string>();
        string[] lines = text.Replace("\r\n", "\n").Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            int lineNo = i + 1;
            string raw = lines[i].TrimEnd();
            if (raw.Trim().Length == 0) continue;
            if (raw.TrimStart().StartsWith("#", StringComparison.Ordinal))
            {
                string comment = raw.TrimStart().Substring(1);
                if (comment.StartsWith(" ", StringComparison.Ordinal)) comment = comment.Substring(1);
                pendingDoc.Add(comment);
                continue;
            }
            int indent = 0;
            while (indent < raw.Length && raw[indent] == ' ') indent++;
            if (raw.IndexOf('\t') >= 0) throw new SpecError(lineNo, "tabs are not allowed; indent with two spaces");
            if (indent % 2 != 0) throw new SpecError(lineNo, "indentation must be a multiple of two spaces");
            int level = indent / 2;
            string body = raw.Substring(indent);
            string? doc = null;
            int hash = body.IndexOf(" #", StringComparison.Ordinal);
            if (hash >= 0)
            {
                doc = body.Substring(hash + 2).Trim();
                body = body.Substring(0, hash).TrimEnd();
            }
            string[] words = body.Split(new[] { ' ' }, StringSplitOptions.RemoveEmptyEntries);

            if (level == 0)
            {
                stack.Clear();
                switch (words[0])
                {
                    case "api":
                        ParseApi(api, words, lineNo);
                        api.Doc.AddRange(pendingDoc);
                        sawApi = true;
                        break;
                    case "request":
                    case "response":
                        if (!sawApi) throw new SpecError(lineNo, "the 'api' line comes first");
                        if (words.Length != 2) throw new SpecError(lineNo, $"expected '{words[0]} ClassName'");
                        current = new MessageSpec { IsRequest = words[0] == "request", ClassName = words[1] };
                        current.Doc.AddRange(pendingDoc);
                        if (current.IsRequest)
                        {
                            if (api.Request != null) throw new SpecError(lineNo, "a second request");
                            api.Request = current;
                        }
                        else
                        {
                            if (api.Response != null) throw new SpecError(lineNo, "a second response");
                            api.Response = current;
                        }
                        break;
                    default:
                        throw new SpecError(lineNo, $"expected 'api', 'request' or 'response', found '{words[0]}'");
                }
                pendingDoc.Clear();
                continue;
            }

            if (current == null) throw new SpecError(lineNo, "a field outside a request or response");
            if (level > stack.Count + 1) throw new SpecError(lineNo, "indented more than one level past its parent");
            while (stack.Count > level - 1) stack.RemoveAt(stack.Count - 1);
            if (pendingDoc.Count > 0 && doc == null) doc = string.Join(" ", pendingDoc);
            pendingDoc.Clear();

            if (words[0] == "const")
            {
                if (level != 1) throw new SpecError(lineNo, "constants belong to the message, at the first level");
                current.Consts.Add(ParseConst(words, doc, lineNo));
                continue;
            }

            var field = ParseField(words, doc, lineNo);
            var parent = stack.Count == 0 ? null : stack[stack.Count - 1];
            if (parent != null)
            {
                if (!parent.IsStructLike || parent.IsReference)
                    throw new SpecError(lineNo, $"'{parent.Name}' is not a struct declared here, so it has no fields");
                // A field without versions of its own has its parent's; one with its own starts within them and,
                // when it names an end, ends within them too ("v5+" under a "v0-7" parent means 5-7).
                if (field.Versions.Min == VersionRange.All.Min && field.Versions.IsOpen) field.Versions = parent.Versions;
                else if (field.Versions.Min < parent.Versions.Min || field.Versions.Min > parent.Versions.Max
                         || (!field.Versions.IsOpen && field.Versions.Max > parent.Versions.Max))
                    throw new SpecError(lineNo, "a field cannot exist in versions its parent does not");
                else field.Versions = field.Versions.Intersect(parent.Versions);
                parent.Children.Add(field);
            }
            else
            {
                current.Fields.Add(field);
            }
            if (field.IsStructLike) stack.Add(field);
        }
        if (!sawApi) throw new SpecError(1, "no 'api' line");
        if (api.Request == null || api.Response == null) throw new SpecError(lines.Length, "a spec declares one request and one response");
        Validate(api, api.Request);
        Validate(api, api.Response);
        return api;
    }

    private static void ParseApi(ApiSpec api, string[] w, int line)
    {
        // api KEY Name versions A-B [flexible F+ | flexible none]
        if (w.Length < 5 || w[3] != "versions") throw new SpecError(line, "expected 'api KEY Name versions A-B flexible F+'");
        api.Key = ParseShort(w[1], line);
        api.Name = w[2];
        api.Versions = ParseRange(w[4], line, bare: true);
        if (api.Versions.IsOpen) throw new SpecError(line, "an API's version range has an end");
        if (w.Length != 7 || w[5] != "flexible") throw new SpecError(line, "end the api line with 'flexible N+' or 'flexible none'");
        if (w[6] != "none")
        {
            var f = ParseRange(w[6], line, bare: true);
            if (!f.IsOpen) throw new SpecError(line, "flexible versions are open-ended: write 'flexible N+'");
            api.FirstFlexible = f.Min;
        }
    }

    private static ConstSpec ParseConst(string[] w, string? doc, int line)
    {
        // const Name type = value
        if (w.Length != 5 || w[3] != "=") throw new SpecError(line, "expected 'const Name type = value'");
        var c = new ConstSpec { Name = w[1], Value = w[4], Doc = doc };
        ParseScalarType(w[2], line, out c.Type, out c.TypeName);
        return c;
    }

    private static FieldSpec ParseField(string[] w, string? doc, int line)
    {
        if (w.Length < 2) throw new SpecError(line, "expected 'Name Type ...'");
        var f = new FieldSpec { Name = w[0], Doc = doc, Line = line };
        if (!IsIdentifier(f.Name) || !char.IsUpper(f.Name[0])) throw new SpecError(line, $"field name '{f.Name}' must be a PascalCase identifier");
        if (Array.IndexOf(ReservedNames, f.Name) >= 0) throw new SpecError(line, $"'{f.Name}' is the name of a generated member");
        string type = w[1];
        bool nullableEverywhere = false;
        if (type.StartsWith("[]", StringComparison.Ordinal))
        {
            f.IsArray = true;
            type = type.Substring(2);
        }
        if (type.EndsWith("?", StringComparison.Ordinal))
        {
            nullableEverywhere = true;
            type = type.Substring(0, type.Length - 1);
        }
        if (!TryPrimitive(type, out f.Type, out f.TypeName))
        {
            f.Type = Primitive.Struct;
            if (type.Length == 0 || !char.IsUpper(type[0])) throw new SpecError(line, $"unknown type '{type}' (a struct's name is capitalised)");
            int dot = type.IndexOf('.');
            f.IsReference = dot >= 0;
            if (!IsIdentifier(f.IsReference ? type.Replace(".", "") : type)) throw new SpecError(line, $"unknown type '{type}'");
            f.TypeName = type;
        }
        if (nullableEverywhere && !f.IsArray && f.Type != Primitive.String && f.Type != Primitive.Bytes && f.Type != Primitive.Records
            && !(f.Type == Primitive.Struct && !f.IsReference))
            throw new SpecError(line, "only strings, bytes, records, structs and arrays can be nullable");
        if (!f.IsArray && f.Type == Primitive.Struct && f.IsReference)
            throw new SpecError(line, "a referenced struct is used as an array element only");

        for (int i = 2; i < w.Length; i++)
        {
            string word = w[i];
            if (word.StartsWith("v", StringComparison.Ordinal) && word.Length > 1 && char.IsDigit(word[1]))
            {
                f.Versions = ParseRange(word.Substring(1), line, bare: true);
            }
            else if (word == "nullable")
            {
                if (++i >= w.Length || !w[i].StartsWith("v", StringComparison.Ordinal)) throw new SpecError(line, "expected 'nullable vN+'");
                f.NullableVersions = ParseRange(w[i].Substring(1), line, bare: true);
            }
            else if (word == "tag")
            {
                if (++i >= w.Length) throw new SpecError(line, "expected 'tag N'");
                f.Tag = ParseShort(w[i], line);
            }
            else if (word == "=")
            {
                if (++i >= w.Length) throw new SpecError(line, "expected a default after '='");
                f.Default = string.Join(" ", w, i, w.Length - i);
                i = w.Length;
            }
            else
            {
                throw new SpecError(line, $"unexpected '{word}'");
            }
        }
        if (nullableEverywhere)
        {
            if (!f.NullableVersions.IsEmpty) throw new SpecError(line, "say either 'Type?' or 'nullable vN+', not both");
            f.NullableVersions = f.Versions;
        }
        if (!f.NullableVersions.IsEmpty && !f.IsArray && f.Type != Primitive.String && f.Type != Primitive.Bytes && f.Type != Primitive.Records
            && !(f.Type == Primitive.Struct && nullableEverywhere))
            throw new SpecError(line, "only strings, bytes, records and arrays can be nullable in some versions (a struct: 'Type?', every version)");
        if (f.Type == Primitive.Struct && !f.IsArray && f.NullableAnywhere && f.Default != "null")
            throw new SpecError(line, "a nullable struct defaults to null ('= null')");
        if (f.Default != null && f.IsArray && f.Default != "null")
            throw new SpecError(line, "an array's only explicit default is 'null'");
        if (f.Default == "null" && !f.NullableAnywhere) throw new SpecError(line, "a null default needs a nullable field");
        if (f.Type == Primitive.Records && f.IsArray) throw new SpecError(line, "records is not an array element");
        return f;
    }

    private static void Validate(ApiSpec api, MessageSpec message)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var c in message.Consts)
            if (!names.Add(c.Name)) throw new SpecError(0, $"{message.ClassName}: '{c.Name}' declared twice");
        ValidateFields(api, message.ClassName, message.Fields, api.Versions, names, new HashSet<string>(StringComparer.Ordinal));
    }

    private static void ValidateFields(ApiSpec api, string owner, List<FieldSpec> fields, VersionRange parentVersions, HashSet<string> names, HashSet<string> structNames)
    {
        var tags = new HashSet<int>();
        foreach (var f in fields)
        {
            if (!names.Add(f.Name)) throw new SpecError(f.Line, $"{owner}: '{f.Name}' declared twice");
            var valid = f.Versions.Intersect(parentVersions).Intersect(api.Versions);
            if (valid.IsEmpty) throw new SpecError(f.Line, $"'{f.Name}' exists in no version of {api.Name} {api.Versions}");
            if (f.IsTagged)
            {
                if (!tags.Add(f.Tag)) throw new SpecError(f.Line, $"tag {f.Tag} used twice in {owner}");
                if (f.Versions.Min < api.FirstFlexible) throw new SpecError(f.Line, "a tagged field exists only in flexible versions");
            }
            if (f.Type == Primitive.Struct && !f.IsReference)
            {
                if (f.Children.Count == 0) throw new SpecError(f.Line, $"struct '{f.TypeName}' has no fields");
                if (!structNames.Add(f.TypeName!)) throw new SpecError(f.Line, $"struct '{f.TypeName}' declared twice");
                ValidateFields(api, f.TypeName!, f.Children, valid, new HashSet<string>(StringComparer.Ordinal), structNames);
            }
        }
    }

    private static bool TryPrimitive(string name, out Primitive type, out string? enumName)
    {
        enumName = null;
        string baseName = name;
        int colon = name.IndexOf(':');
        if (colon >= 0)
        {
            baseName = name.Substring(0, colon);
            enumName = name.Substring(colon + 1);
        }
        switch (baseName)
        {
            case "bool": type = Primitive.Bool; break;
            case "int8": type = Primitive.Int8; break;
            case "int16": type = Primitive.Int16; break;
            case "uint16": type = Primitive.UInt16; break;
            case "int32": type = Primitive.Int32; break;
            case "uint32": type = Primitive.UInt32; break;
            case "int64": type = Primitive.Int64; break;
            case "float64": type = Primitive.Float64; break;
            case "uuid": type = Primitive.Uuid; break;
            case "string": type = Primitive.String; break;
            case "bytes": type = Primitive.Bytes; break;
            case "records": type = Primitive.Records; break;
            default: type = Primitive.Struct; enumName = null; return false;
        }
        if (enumName != null && type != Primitive.Int8 && type != Primitive.Int16 && type != Primitive.Int32)
            throw new SpecError(0, $"only int8, int16 and int32 can carry an enum ('{name}')");
        return true;
    }

    private static void ParseScalarType(string name, int line, out Primitive type, out string? enumName)
    {
        if (!TryPrimitive(name, out type, out enumName) || type == Primitive.Records || type == Primitive.Bytes)
            throw new SpecError(line, $"a constant has a scalar type, not '{name}'");
    }

    /// <summary><c>3</c>, <c>3+</c> or <c>3-5</c>.</summary>
    private static VersionRange ParseRange(string text, int line, bool bare)
    {
        if (text.EndsWith("+", StringComparison.Ordinal))
            return new VersionRange(ParseShort(text.Substring(0, text.Length - 1), line), short.MaxValue);
        int dash = text.IndexOf('-');
        if (dash > 0)
        {
            var r = new VersionRange(ParseShort(text.Substring(0, dash), line), ParseShort(text.Substring(dash + 1), line));
            if (r.IsEmpty) throw new SpecError(line, $"empty version range '{text}'");
            return r;
        }
        short v = ParseShort(text, line);
        return new VersionRange(v, v);
    }

    private static short ParseShort(string text, int line)
    {
        if (!short.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out short v))
            throw new SpecError(line, $"expected a number, found '{text}'");
        return v;
    }

    private static bool IsIdentifier(string s)
    {
        if (s.Length == 0 || !(char.IsLetter(s[0]) || s[0] == '_')) return false;
        foreach (char c in s)
            if (!(char.IsLetterOrDigit(c) || c == '_')) return false;
        return true;
    }
}
