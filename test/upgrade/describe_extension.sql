-- A normalised text description of everything the forgea_audit extension put in the current
-- database: one line per fact, no OIDs, sorted.  Two databases hold the same extension objects
-- exactly when this prints the same text in both (test/upgrade/upgrade.sh diffs an
-- updated 0.1.0 or 0.2.0 install against a fresh install of the current version).
--
-- Run with: psql -X -At -v ON_ERROR_STOP=1 -f test/upgrade/describe_extension.sql
-- ACLs are printed with their items sorted (their order carries no meaning); proconfig is printed
-- as stored (SET clauses apply in that order).
\pset footer off
WITH ext AS (
    SELECT e.oid, e.extversion FROM pg_catalog.pg_extension e WHERE e.extname = 'forgea_audit'
), members AS (   -- every object that belongs to the extension
    SELECT d.classid, d.objid, d.objsubid FROM pg_catalog.pg_depend d, ext
    WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
), rels AS (      -- the extension's relations, and the indexes and sequences that come with them
    SELECT c.* FROM pg_catalog.pg_class c
    WHERE c.relnamespace = 'forgea_audit'::regnamespace
), funcs AS (
    SELECT p.* FROM pg_catalog.pg_proc p WHERE p.pronamespace = 'forgea_audit'::regnamespace
), lines(line) AS (
    SELECT 'extension version ' || extversion FROM ext
    UNION ALL
    SELECT 'member ' || pg_catalog.pg_describe_object(m.classid, m.objid, m.objsubid) FROM members m
    UNION ALL
    SELECT 'config_dump ' || c::regclass::text || ' condition=' || coalesce(e.extcondition[i], '<null>')
    FROM pg_catalog.pg_extension e, unnest(e.extconfig) WITH ORDINALITY AS u(c, i)
    WHERE e.extname = 'forgea_audit'
    UNION ALL
    SELECT 'schema forgea_audit owner=' || n.nspowner::regrole::text || ' acl=' ||
           coalesce((SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(n.nspacl) a), '<default>') ||
           ' comment=' || coalesce(pg_catalog.obj_description(n.oid, 'pg_namespace'), '<none>')
    FROM pg_catalog.pg_namespace n WHERE n.nspname = 'forgea_audit'
    UNION ALL
    -- Functions: the whole definition as PostgreSQL prints it (arguments, defaults, language,
    -- volatility, strictness, parallel safety, SECURITY DEFINER, SET clauses, body or C symbol),
    -- then the attributes one by one so a diff names the one that differs.
    SELECT 'function ' || f.oid::regprocedure::text || ' ' || x.k || '=' || x.v
    FROM funcs f, LATERAL (VALUES
        ('kind', f.prokind::text),
        ('owner', f.proowner::regrole::text),
        ('language', (SELECT l.lanname::text FROM pg_catalog.pg_language l WHERE l.oid = f.prolang)),
        ('returns', pg_catalog.pg_get_function_result(f.oid)),
        ('arguments', pg_catalog.pg_get_function_arguments(f.oid)),
        ('security_definer', f.prosecdef::text),
        ('config', coalesce(f.proconfig::text, '<none>')),
        ('volatility', f.provolatile::text),
        ('strict', f.proisstrict::text),
        ('parallel', f.proparallel::text),
        ('leakproof', f.proleakproof::text),
        ('cost', f.procost::text),
        ('rows', f.prorows::text),
        ('acl', coalesce((SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(f.proacl) a), '<default>')),
        ('comment', coalesce(pg_catalog.obj_description(f.oid, 'pg_proc'), '<none>')),
        ('probin', coalesce(f.probin, '<none>')),
        ('prosrc', f.prosrc),
        ('definition', CASE WHEN f.prokind IN ('f', 'p', 'w') THEN pg_catalog.pg_get_functiondef(f.oid) END)
    ) AS x(k, v)
    UNION ALL
    SELECT 'relation ' || r.oid::regclass::text || ' ' || x.k || '=' || x.v
    FROM rels r, LATERAL (VALUES
        ('kind', r.relkind::text),
        ('owner', r.relowner::regrole::text),
        ('persistence', r.relpersistence::text),
        ('row_security', r.relrowsecurity::text || '/force=' || r.relforcerowsecurity::text),
        ('options', coalesce(r.reloptions::text, '<none>')),
        ('access_method', coalesce((SELECT a.amname::text FROM pg_catalog.pg_am a WHERE a.oid = r.relam), '<none>')),
        ('acl', coalesce((SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(r.relacl) a), '<default>')),
        ('comment', coalesce(pg_catalog.obj_description(r.oid, 'pg_class'), '<none>')),
        ('replica_identity', r.relreplident::text),
        ('index', CASE WHEN r.relkind = 'i' THEN pg_catalog.pg_get_indexdef(r.oid) END),
        ('view', CASE WHEN r.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(r.oid) END)
    ) AS x(k, v)
    WHERE x.v IS NOT NULL
    UNION ALL
    -- Columns, in their logical order (position counts only live columns: a dropped column's hole
    -- is not a difference a reader can see, but the order of the live ones is: to_jsonb(row)).
    SELECT 'column ' || r.oid::regclass::text || ' #' ||
           row_number() OVER (PARTITION BY r.oid ORDER BY a.attnum) || ' ' || a.attname ||
           ' type=' || pg_catalog.format_type(a.atttypid, a.atttypmod) ||
           ' notnull=' || a.attnotnull::text ||
           ' default=' || coalesce(pg_catalog.pg_get_expr(d.adbin, d.adrelid), '<none>') ||
           ' identity=' || coalesce(nullif(a.attidentity::text, ''), '-') ||
           ' generated=' || coalesce(nullif(a.attgenerated::text, ''), '-') ||
           ' collation=' || coalesce((SELECT co.collname::text FROM pg_catalog.pg_collation co
                                      WHERE co.oid = a.attcollation), '-') ||
           ' storage=' || a.attstorage::text ||
           ' acl=' || coalesce((SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(a.attacl) x), '<default>') ||
           ' comment=' || coalesce(pg_catalog.col_description(r.oid, a.attnum), '<none>')
    FROM rels r
    JOIN pg_catalog.pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = r.oid AND d.adnum = a.attnum
    WHERE r.relkind IN ('r', 'p', 'v', 'm', 'f')
    UNION ALL
    SELECT 'constraint ' || co.conrelid::regclass::text || ' ' || co.conname || ' ' ||
           pg_catalog.pg_get_constraintdef(co.oid) ||
           ' deferrable=' || co.condeferrable::text || '/' || co.condeferred::text ||
           ' validated=' || co.convalidated::text ||
           ' index=' || coalesce(nullif(co.conindid, 0)::regclass::text, '-') ||
           ' comment=' || coalesce(pg_catalog.obj_description(co.oid, 'pg_constraint'), '<none>')
    FROM pg_catalog.pg_constraint co JOIN rels r ON r.oid = co.conrelid
    UNION ALL
    SELECT 'sequence ' || s.seqrelid::regclass::text ||
           ' type=' || s.seqtypid::regtype::text || ' start=' || s.seqstart || ' increment=' || s.seqincrement ||
           ' min=' || s.seqmin || ' max=' || s.seqmax || ' cache=' || s.seqcache || ' cycle=' || s.seqcycle::text ||
           ' owned_by=' || coalesce((SELECT d.refobjid::regclass::text || '.' || a.attname || '(' || d.deptype::text || ')'
                                     FROM pg_catalog.pg_depend d
                                     JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                                     WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = s.seqrelid
                                       AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.deptype IN ('a', 'i')), '-')
    FROM pg_catalog.pg_sequence s JOIN rels r ON r.oid = s.seqrelid
    UNION ALL
    SELECT 'trigger ' || t.tgrelid::regclass::text || ' ' || t.tgname || ' enabled=' || t.tgenabled::text || ' ' ||
           pg_catalog.pg_get_triggerdef(t.oid) ||
           ' comment=' || coalesce(pg_catalog.obj_description(t.oid, 'pg_trigger'), '<none>')
    FROM pg_catalog.pg_trigger t JOIN rels r ON r.oid = t.tgrelid
    WHERE NOT t.tgisinternal
    UNION ALL
    SELECT 'rule ' || ru.ev_class::regclass::text || ' ' || ru.rulename || ' ' || pg_catalog.pg_get_ruledef(ru.oid)
    FROM pg_catalog.pg_rewrite ru JOIN rels r ON r.oid = ru.ev_class
    WHERE ru.rulename <> '_RETURN'
    UNION ALL
    SELECT 'policy ' || p.schemaname || '.' || p.tablename || ' ' || p.policyname ||
           ' permissive=' || p.permissive || ' roles=' || p.roles::text || ' cmd=' || p.cmd ||
           ' using=' || coalesce(p.qual, '<none>') || ' check=' || coalesce(p.with_check, '<none>')
    FROM pg_catalog.pg_policies p WHERE p.schemaname = 'forgea_audit'
    UNION ALL
    SELECT 'event_trigger ' || et.evtname || ' event=' || et.evtevent || ' enabled=' || et.evtenabled::text ||
           ' tags=' || coalesce(et.evttags::text, '<all>') || ' function=' || et.evtfoid::regprocedure::text ||
           ' owner=' || et.evtowner::regrole::text ||
           ' comment=' || coalesce(pg_catalog.obj_description(et.oid, 'pg_event_trigger'), '<none>')
    FROM pg_catalog.pg_event_trigger et
    WHERE et.oid IN (SELECT objid FROM members WHERE classid = 'pg_catalog.pg_event_trigger'::regclass)
    UNION ALL
    SELECT 'type ' || t.oid::regtype::text || ' kind=' || t.typtype::text ||
           ' comment=' || coalesce(pg_catalog.obj_description(t.oid, 'pg_type'), '<none>')
    FROM pg_catalog.pg_type t
    WHERE t.typnamespace = 'forgea_audit'::regnamespace AND t.typrelid = 0 AND t.typelem = 0
    UNION ALL
    -- What pg_dump takes as the extension's own privileges (ALTER EXTENSION ... UPDATE records them
    -- as CREATE EXTENSION does).
    SELECT 'init_privs ' || pg_catalog.pg_describe_object(ip.classoid, ip.objoid, ip.objsubid) ||
           ' type=' || ip.privtype::text ||
           ' acl=' || coalesce((SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(ip.initprivs) a), '<none>')
    FROM pg_catalog.pg_init_privs ip
    JOIN members m ON m.classid = ip.classoid AND m.objid = ip.objoid
    UNION ALL
    -- The roles the install script creates (cluster-wide; kept if they existed before).
    SELECT 'role ' || r.rolname || ' login=' || r.rolcanlogin::text ||
           ' member_of=' || coalesce((SELECT string_agg(g.rolname, ',' ORDER BY g.rolname)
                                     FROM pg_catalog.pg_auth_members am JOIN pg_catalog.pg_roles g ON g.oid = am.roleid
                                     WHERE am.member = r.oid), '-') ||
           ' comment=' || coalesce(pg_catalog.shobj_description(r.oid, 'pg_authid'), '<none>')
    FROM pg_catalog.pg_roles r WHERE r.rolname LIKE 'forgea\_audit\_%'
)
SELECT line FROM lines ORDER BY line COLLATE "C";
