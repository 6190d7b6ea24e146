/**
 * What the tree builder records for comment placement: the containers it builds, the marks of
 * keys, values and dashes in document order, the comments between them, and the comments to insert.
 */
import type { Comment, ListNode, MapNode } from '../../tree/types.js';

export interface Container {
  node: MapNode | ListNode;
  parent: Container | null;
  /** index of this container's item in the parent */
  parentIndex: number;
  /** offset of its first item (key or `-`), for its indentation */
  firstOff: number;
  flow: boolean;
}

export const enum MarkKind {
  /** a map key (its value follows on later lines, or is empty) */
  Key,
  /** a map value written on the key's line or later: scalar, alias or flow collection */
  Val,
  /** a sequence `-` whose value is a block collection or empty */
  Dash,
  /** a sequence item: scalar, alias or flow collection */
  Item,
}

export interface Mark {
  kind: MarkKind;
  off: number;
  end: number;
  c: Container;
  i: number;
  /** for Key/Dash: the value is empty (null) */
  empty?: boolean;
  /** for Val/Item: the flow collection the value is */
  child?: Container;
  /** where the content's line ends for inline comments, when not `end` (block scalar headers) */
  lineEnd?: number;
}

export interface CommentTok {
  off: number;
  text: string;
}

export type Seq = Array<Mark | CommentTok>;
export const isMark = (x: Mark | CommentTok): x is Mark => 'kind' in x;

export interface Insert {
  before: Map<number, Comment[]>;
  after: Map<number, Comment[]>;
  end: Comment[];
}
