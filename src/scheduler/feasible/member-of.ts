/**
 * memberOf placement constraints: the cluster query language evaluated against the instance as this
 * plan leaves it (task:group and runningTasksCount include the plan's own copies). One checker per
 * constraint, so an explanation names the expression that excluded instances.
 */
import { evaluateQuery, type QuerySubject } from '../query/index.js';
import type { MemberOf } from '../request.js';
import type { WorkingCluster } from '../working.js';
import { type FeasibilityChecker } from './checker.js';

/**
 * One reusable QuerySubject pointed at instance `index`: evaluation allocates nothing per instance
 * except when task:group is asked for on an instance this plan has placed copies on.
 */
class WorkingSubject implements QuerySubject {
  index = 0;
  constructor(private readonly w: WorkingCluster) {}
  attribute(name: string): string | null | undefined {
    const attrs = this.w.instances[this.index]!.attributes;
    return Object.hasOwn(attrs, name) ? attrs[name] : undefined;
  }
  get ec2InstanceId() {
    return this.w.instances[this.index]!.ec2InstanceId;
  }
  get registeredAt() {
    return this.w.instances[this.index]!.registeredAt;
  }
  get runningTasksCount() {
    return this.w.runningTasksCount(this.index);
  }
  get agentConnected() {
    return this.w.instances[this.index]!.agentConnected;
  }
  get agentVersion() {
    return this.w.instances[this.index]!.agentVersion;
  }
  get taskGroups(): Iterable<string> {
    const groups = this.w.instances[this.index]!.taskGroups;
    if (this.w.placed[this.index] === 0 || groups.has(this.w.request.group)) return groups.keys();
    return [...groups.keys(), this.w.request.group];
  }
}

/** One checker per memberOf constraint of the request, in the order given. */
export function memberOfCheckers(w: WorkingCluster): FeasibilityChecker[] {
  return w.request.memberOf.map((m: MemberOf) => {
    const subject = new WorkingSubject(w);
    const name = `memberOf(${m.expression})`;
    return {
      name,
      cost: 'costly',
      feasible: (i) => {
        subject.index = i;
        return evaluateQuery(m.query, subject);
      },
      reason: () => 'MemberOf placement constraint unsatisfied.',
      detail: () => `excluded by ${name}`,
      summarize: () => `excluded by ${name}`,
    };
  });
}
